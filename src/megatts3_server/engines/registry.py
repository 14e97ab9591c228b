"""Pick and build the engine named in model_config.yaml (``model.engine``)."""

from __future__ import annotations

from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.errors import EngineNotReadyError


def build_engine(settings: Settings) -> Engine:
    """Construct (not load) the configured engine."""
    name = settings.model.engine
    if name == "kokoro":
        from megatts3_server.engines.kokoro import KokoroEngine

        inference, cloning = settings.model.inference, settings.model.cloning
        return KokoroEngine(
            cache_dir=settings.storage.cache_dir,
            threads=inference.threads,
            batch_size=inference.batch_size,
            warm_cloning=cloning.budget_seconds > 0 or cloning.one_shot_budget_seconds > 0,
            packs_dir=settings.storage.voice_packs_dir,
        )
    if name == "megatts3":
        try:
            from megatts3_server.engines.megatts3.engine import MegaTTS3Engine
        except ModuleNotFoundError as exc:
            raise EngineNotReadyError(
                f"model.engine is megatts3 but {exc.name} is not installed: pip install 'megatts3-server[megatts3]'"
            ) from exc
        model = settings.model
        return MegaTTS3Engine(
            model.megatts3,
            model.vocoder.checkpoint_path,
            device=model.inference.device,
            precision=model.inference.precision,
            threads=model.inference.threads,
            batch_size=model.inference.batch_size,
        )
    raise ValueError(f"unknown engine {name!r}")  # unreachable: the settings type lists the engines
