"""A small deterministic engine for in-process tests of the HTTP layer (routing, errors, limits, health).

It speaks a tone whose length follows the text (0.05 s a character at 8 kHz), so its audio is real,
decodable and different for different texts, at no model's cost. Its load can be held back or made
to fail, to test what clients see while the engine is not ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from megatts3_server.app import create_app
from megatts3_server.config import Settings, load_settings
from megatts3_server.engines.base import (
    BuiltinVoice,
    CancelToken,
    Engine,
    EngineCapabilities,
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.errors import EngineNotReadyError

RATE = 8_000
_SECONDS_PER_CHARACTER = 0.05


class ToneEngine(Engine):
    """Two built-in voices (tone_low, tone_high); uploads become a voice at the reference's pitch."""

    def __init__(self, *, hold_load: bool = False, fail_load: str | None = None) -> None:
        self.release = threading.Event()
        if not hold_load:
            self.release.set()
        self._fail = fail_load
        self._loaded = False
        self.syntheses = 0
        self.preparations = 0
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("tone", RATE, ("zh", "en"), frozenset({"neutral"}))

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        self.release.wait()
        if self._fail is not None:
            raise EngineNotReadyError(self._fail)
        self._loaded = True

    def builtin_voices(self) -> list[BuiltinVoice]:
        return [
            BuiltinVoice("tone_low", "low", "a low tone", "multi", "male"),
            BuiltinVoice("tone_high", "high", "a high tone", "multi", "female"),
        ]

    def builtin_context(self, voice_id: str) -> VoiceContext:
        pitch = {"tone_low": 180.0, "tone_high": 320.0}[voice_id]
        return VoiceContext(voice_id, meta={"pitch": pitch})

    def prepare_voice(self, reference: Any, latent: np.ndarray | None) -> PreparedVoice:
        with self._lock:
            self.preparations += 1
        return PreparedVoice(meta={"pitch": 250.0}, summary="a tone at 250 Hz")

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        with self._lock:
            self.syntheses += 1
        samples = int(RATE * _SECONDS_PER_CHARACTER * max(1, len(text)) / speed)
        t = np.arange(samples) / RATE
        return (0.3 * np.sin(2 * np.pi * float(voice.meta.get("pitch", 220.0)) * t)).astype(np.float32)


class GatedEngine(ToneEngine):
    """A tone engine that stops before its ``open_calls``-th engine call until ``gate`` is set."""

    def __init__(self, open_calls: int) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.open_calls = open_calls
        self.calls = 0

    def synthesize(self, text: str, voice: Any, **kwargs: Any) -> np.ndarray:
        self.calls += 1
        if self.calls > self.open_calls:
            self.gate.wait(60)
        return super().synthesize(text, voice, **kwargs)


def finished_job(http: TestClient, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """A long-form job's state once it has ended (done, failed or cancelled), polled."""
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/api/v1/tts/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def tone_settings(folder: Path, api: dict[str, Any] | None = None, **model: Any) -> Settings:
    """Settings for an in-process app over ToneEngine: storage under ``folder``, metrics off."""
    storage = {
        "root": str(folder),
        "voice_samples_dir": str(folder / "voices"),
        "cache_dir": str(folder / "cache"),
        "temp_dir": str(folder / "tmp"),
        "jobs_dir": str(folder / "jobs"),
        "disk_warn_percent": 99,  # the test box's disk, not the service, decides how full it is
    }
    overrides = {
        "api": {"monitoring": {"enabled": False}, **(api or {})},
        "model": {"default_voice": "tone_low", "cloning": {"budget_seconds": 0, "one_shot_budget_seconds": 0}, **model},
        "logging": {"file": None},
        "storage": storage,
    }
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.yaml"  # only the defaults and the overrides: not the repository's configs/
    empty.write_text("{}\n")
    return load_settings(empty, empty, env={}, overrides=overrides)


@contextmanager
def tone_app(
    settings: Settings, engine: ToneEngine | None = None, client: tuple[str, int] = ("127.0.0.1", 50000)
) -> Iterator[tuple[TestClient, ToneEngine]]:
    """The real app over ToneEngine, started (lifespan run) and called in process. Unless its load is
    held back, the engine is loaded first; the service speaks once after the load to measure the
    engine's speed, and the engine's counters start after that."""
    engine = engine or ToneEngine()
    app = create_app(settings, engine=engine)
    with TestClient(app, client=client) as http:
        if engine.release.is_set():
            app.state.services.loader.wait(30)
            engine.syntheses = 0
        yield http, engine


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn on a loopback port, in this process (so a test can hold its
    stand-in engine); yields the base URL. For what only a real HTTP server shows: keep-alive,
    chunked bodies cut off, HEAD."""
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # proxy_headers off, as `megatts3-server serve` runs it: the app trusts X-Forwarded-For itself (app.py).
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
