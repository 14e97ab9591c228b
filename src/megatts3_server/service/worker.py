"""An enrollment-only process (``megatts3-server worker``): the engine, the voice store and the job
worker, no HTTP, so that heavy enrollment can run on machines of its own while the API replicas
(``api.enrollment: false``) only store uploads pending.

It opens the store without recover(): on a SQLite store beside a running server that is the
server's to do (it could remove an upload being written); PostgreSQL has nothing to recover.
"""

from __future__ import annotations

import logging
import threading

from megatts3_server.config import Settings
from megatts3_server.engines.base import Engine
from megatts3_server.engines.registry import build_engine
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.storage.databases import build_database
from megatts3_server.voices import build_voice_store

log = logging.getLogger(__name__)


def run_enrollment_worker(
    settings: Settings,
    stop: threading.Event,
    *,
    engine: Engine | None = None,
) -> None:
    """Enroll the store's pending voices until ``stop`` is set, then release the running job and
    return. The engine is built from the settings unless given (tests)."""
    loader = EngineLoader(engine or build_engine(settings))
    database = build_database(settings.storage)
    store = build_voice_store(settings.storage, database)
    store.migrate()
    jobs = EnrollmentJobs.from_settings(store, loader, settings.model.cloning)
    try:
        loader.start()
        jobs.start()
        log.info(
            "enrollment worker %s: voices of engine %s in the %s store, looked for every %g s (lease %g s)",
            jobs.owner,
            loader.engine.capabilities.name,
            settings.storage.backend,
            settings.model.cloning.poll_seconds,
            settings.model.cloning.lease_seconds,
        )
        while not stop.wait(1.0):
            pass
        log.info("enrollment worker %s: stopping", jobs.owner)
    finally:
        jobs.stop()
        store.close()
        database.close()
