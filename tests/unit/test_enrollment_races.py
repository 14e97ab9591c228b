"""A voice deleted just as its enrollment starts is an expected event: said in one line, no
traceback, and the worker goes on with the next job (SQLite store: its files go with the delete)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.voices import VoiceStore
from tests.support.enrollment import SearchingEngine
from tests.support.voices import silent_reference, stored_voice
from tests.support.waiting import wait_until


class DeletedOnRead:
    """The store, where reading a voice's reference finds it deleted a moment before (the delete's race)."""

    def __init__(self, store: VoiceStore) -> None:
        self._store = store

    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        if voice_id.startswith("raced"):
            self._store.delete(voice_id)
        return self._store.load_reference(voice_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_voice_deleted_as_its_enrollment_starts_is_said_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = VoiceStore(tmp_path / "voices")
    store.open()
    loader = EngineLoader(SearchingEngine())
    loader.load_now()
    jobs = EnrollmentJobs(DeletedOnRead(store), loader, budget_seconds=5, max_attempts=2)  # type: ignore[arg-type]
    jobs.start()
    try:
        for voice_id in ("raced", "next"):
            store.save_atomic(stored_voice(voice_id, engine="fake", status="pending", progress=0.0), silent_reference())
            jobs.submit(voice_id)
        wait_until(lambda: (voice := store.get("next")) is not None and voice.status == "ready")
    finally:
        jobs.stop()
    assert store.get("raced") is None
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
    assert any("raced was deleted as its enrollment started" in record.getMessage() for record in caplog.records)
