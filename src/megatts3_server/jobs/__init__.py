"""Long-form jobs: what they ask for (script.py), where they are kept (store.py on this machine,
postgres_store.py shared by replicas), how they sound (loudness.py) and what they give back
(track.py). The service that runs them: service/jobs.py."""

from __future__ import annotations

from megatts3_server.config import StorageSettings
from megatts3_server.jobs.postgres_store import PostgresJobStore
from megatts3_server.jobs.store import JobStore
from megatts3_server.jobs.store_interface import JobStoreInterface
from megatts3_server.storage.databases import StoreDatabase
from megatts3_server.storage.postgres import PostgresDatabase


def build_job_store(settings: StorageSettings, database: StoreDatabase) -> JobStoreInterface:
    """Beside the voices: in ``database`` when it is PostgreSQL (every replica sees every job), else in
    ``jobs_dir``'s own file. Result files are in ``jobs_dir`` either way."""
    if isinstance(database, PostgresDatabase):
        return PostgresJobStore(database, settings.jobs_dir)
    return JobStore(settings.jobs_dir)


__all__ = ["JobStoreInterface", "build_job_store"]
