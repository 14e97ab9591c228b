"""``megatts3-server worker``: enrollment without HTTP, from a PostgreSQL store shared with API replicas
that run none themselves (``api.enrollment: false``, ``MEGATTS3_ENROLLMENT=0``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from megatts3_server.audio import DecodedAudio
from megatts3_server.cli import app
from megatts3_server.config import Settings, load_settings
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.voices import Reference
from megatts3_server.service.wiring import build_voice_service
from megatts3_server.service.worker import run_enrollment_worker
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.tenancy import Caller
from megatts3_server.voices import NewVoiceFiles, PostgresVoiceStore
from tests.support.enrollment import RATE, SearchingEngine
from tests.support.reference_clips import real_speech_wav
from tests.support.server import write_configs
from tests.support.voices import silent_reference, stored_voice
from tests.support.waiting import wait_until

runner = CliRunner()


def _overrides(url: str, **cloning: float) -> dict[str, object]:
    return {
        "storage": {"backend": "postgres", "database_url": url},
        "model": {"cloning": {"lease_seconds": 2, "poll_seconds": 0.1, **cloning}},
        "logging": {"file": None},
    }


def _postgres_settings(url: str, **cloning: float) -> Settings:
    return load_settings(env={}, overrides=_overrides(url, **cloning))


def _opened(database: PostgresDatabase) -> PostgresVoiceStore:
    store = PostgresVoiceStore(database)
    store.open()
    return store


def test_the_worker_command_is_there() -> None:
    result = runner.invoke(app, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    assert "SIGTERM" in result.output and "--config" in result.output


def test_enrollment_is_turned_off_by_the_environment() -> None:
    assert load_settings(env={}).api.enrollment is True
    assert load_settings(env={"MEGATTS3_ENROLLMENT": "0"}).api.enrollment is False
    cloning = load_settings(env={}).model.cloning
    assert (cloning.lease_seconds, cloning.poll_seconds) == (30, 5)


def test_an_api_replica_without_enrollment_stores_uploads_pending_for_the_worker(
    postgres_url: str, postgres_database: PostgresDatabase
) -> None:
    settings = _postgres_settings(postgres_url)
    api_settings = load_settings(env={}, overrides={**_overrides(postgres_url), "api": {"enrollment": False}})
    api_store = PostgresVoiceStore(postgres_database)
    api_engine = SearchingEngine()
    api_loader = EngineLoader(api_engine)
    api_loader.load_now()
    service = build_voice_service(api_store, api_loader, api_settings)
    service.open()
    stop, worker_engine = threading.Event(), SearchingEngine(steps=3)
    worker = threading.Thread(target=run_enrollment_worker, args=(settings, stop), kwargs={"engine": worker_engine})
    try:
        samples = np.zeros(2 * RATE, np.float32)
        reference = Reference(DecodedAudio(samples, RATE, "wav"), None, "0" * 64, "0" * 64)
        assert service.save("narrator", "", "", reference, prepared=None, caller=Caller()).status == "pending"
        time.sleep(0.5)  # several polls' worth: nobody on the API replica takes the job
        assert api_store.get("narrator").status == "pending" and api_engine.runs == 0
        worker.start()
        wait_until(lambda: api_store.get("narrator").status == "ready")
        assert worker_engine.runs == 1 and api_store.get("narrator").attempts == 1
        # A long job is handed back when the worker stops (SIGTERM, in the command).
        worker_engine.steps = 100_000
        long_job = stored_voice("long", engine="fake", status="pending", progress=0.0)
        api_store.save_atomic(long_job, silent_reference())
        wait_until(lambda: api_store.get("long").status == "enrolling")
        stop.set()
        worker.join(30)
        assert not worker.is_alive()
        assert (api_store.get("long").status, api_store.get("long").attempts) == ("pending", 0)
        assert worker_engine.cancelled.is_set()
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(30)
        service.close()


def test_the_worker_command_enrolls_a_pending_voice_then_stops_on_sigterm(
    tmp_path: Path, postgres_url: str, postgres_database: PostgresDatabase, model_cache: Path
) -> None:
    """The command as an operator runs it: the default (embedded) engine, a real recording."""
    store = _opened(postgres_database)
    voice = stored_voice("narrator", engine="kokoro-82m-int8", status="pending", progress=0.0, duration=5.0)
    store.save_atomic(voice, NewVoiceFiles(real_speech_wav()))
    model_config, api_config = write_configs(
        tmp_path,
        storage=tmp_path / "storage",
        cache=model_cache,
        model={"cloning": {"budget_seconds": 1, "lease_seconds": 5, "poll_seconds": 0.2}},
        storage_extra={"backend": "postgres", "database_url": postgres_url},
    )
    console = tmp_path / "worker.log"
    command = [sys.executable, "-m", "megatts3_server", "worker", "-c", str(api_config), "--model-config"]
    with console.open("w") as output:
        process = subprocess.Popen(
            [*command, str(model_config)],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: store.get("narrator").status in ("ready", "failed") or process.poll() is not None, 300)
        enrolled = store.get("narrator")
        assert enrolled.status == "ready", (enrolled.error, process.poll(), console.read_text()[-3000:])
        assert enrolled.similarity is not None and store.load_arrays("narrator")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        store.close()
