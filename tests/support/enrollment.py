"""Stand-in engines for the enrollment-job tests, and a replica of the job worker to run as a
process of its own (``python -m tests.support.enrollment URL LEASE``), so that a test can kill it
with SIGKILL in the middle of a job, as a machine dies: nothing released, nothing written."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from megatts3_server.audio import DecodedAudio
from megatts3_server.engines.base import (
    BuiltinVoice,
    CancelToken,
    Engine,
    EngineCapabilities,
    EnrollmentProgress,
    PreparedVoice,
    VoiceContext,
)
from megatts3_server.errors import SynthesisCancelledError

RATE = 24_000


class SearchingEngine(Engine):
    """Enrolls in ``steps`` ticks of ``tick`` seconds, or raises ``error``; started runs are counted,
    and a run that was cancelled sets ``cancelled``."""

    def __init__(self, steps: int = 5, tick: float = 0.02, error: Exception | None = None) -> None:
        self.steps, self.tick, self.error = steps, tick, error
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.runs = 0

    capabilities = EngineCapabilities("fake", RATE, ("en",), frozenset({"neutral"}))
    loaded = True

    def load(self) -> None: ...

    def builtin_voices(self) -> list[BuiltinVoice]:
        return []

    def builtin_context(self, voice_id: str) -> VoiceContext:
        raise KeyError(voice_id)

    def prepare_voice(self, reference: DecodedAudio, latent: np.ndarray | None) -> PreparedVoice:
        return PreparedVoice(meta={})

    def synthesize(self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None):
        return np.zeros(RATE, np.float32)

    def enrolls_in_background(self, budget_seconds: float) -> bool:
        return True

    def enroll_voice(
        self,
        reference: DecodedAudio,
        latent: np.ndarray | None,
        *,
        budget_seconds: float = 0.0,
        progress: EnrollmentProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> PreparedVoice:
        self.runs += 1
        self.started.set()
        if self.error is not None:
            raise self.error
        for step in range(self.steps):
            if cancel is not None and cancel.cancelled:
                self.cancelled.set()
                raise SynthesisCancelledError("cancelled")
            if progress is not None:
                progress(step / self.steps, 0.5 + step / 100)
            time.sleep(self.tick)
        style = np.full((4, 8), len(reference.samples) / RATE, np.float32)
        return PreparedVoice(meta={"searched": True}, arrays={"style": style}, summary="searched", similarity=0.9)


class StuckEngine(SearchingEngine):
    """Reports some progress, then never returns (not even when cancelled)."""

    def enroll_voice(self, reference, latent, *, budget_seconds=0.0, progress=None, cancel=None) -> PreparedVoice:
        self.runs += 1
        if progress is not None:
            progress(0.25, 0.6)
        threading.Event().wait()
        raise AssertionError("unreachable")


def _replica(url: str, lease_seconds: float) -> None:
    """Run a job worker with a StuckEngine on ``url``'s store; print its owner id, then wait to be killed."""
    from megatts3_server.service.engine_loader import EngineLoader
    from megatts3_server.service.enrollment import EnrollmentJobs
    from megatts3_server.storage.postgres import PostgresDatabase
    from megatts3_server.voices import PostgresVoiceStore

    store = PostgresVoiceStore(PostgresDatabase(url))
    store.migrate()
    loader = EngineLoader(StuckEngine())
    loader.load_now()
    jobs = EnrollmentJobs(
        store, loader, budget_seconds=5, max_attempts=2, lease_seconds=lease_seconds, poll_seconds=0.1
    )
    jobs.start()
    print(jobs.owner, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    _replica(sys.argv[1], float(sys.argv[2]))
