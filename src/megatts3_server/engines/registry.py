"""Pick and build the engine named in model_config.yaml (``model.engine``)."""

from __future__ import annotations

from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine


def build_engine(settings: Settings) -> Engine:
    """Construct (not load) the configured engine."""
    name = settings.model.engine
    if name == "kokoro":
        from megatts3_server.engines.kokoro import KokoroEngine

        inference = settings.model.inference
        return KokoroEngine(
            cache_dir=settings.storage.cache_dir, threads=inference.threads, batch_size=inference.batch_size
        )
    raise ValueError(f"unknown engine {name!r}")  # unreachable: the settings type lists the engines
