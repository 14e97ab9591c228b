"""The voice store: uploaded reference voices, their metadata and engine state. SQLite + files by
default; PostgreSQL (storage.backend: postgres) when several replicas share the voices."""

from megatts3_server.config import StorageSettings
from megatts3_server.storage.databases import StoreDatabase
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.voices.latent import parse_latent
from megatts3_server.voices.postgres_store import PostgresVoiceStore
from megatts3_server.voices.records import (
    NewVoiceFiles,
    StoredVoice,
    canonical_voice_id,
    now_iso,
    validate_voice_id,
)
from megatts3_server.voices.store import VoiceStore
from megatts3_server.voices.store_interface import VoiceStoreInterface


def build_voice_store(settings: StorageSettings, database: StoreDatabase) -> VoiceStoreInterface:
    """The store over the process's ``database`` (storage/databases.py; not yet opened: the services
    open it at start-up)."""
    if isinstance(database, PostgresDatabase):
        return PostgresVoiceStore(database)
    return VoiceStore(settings.voice_samples_dir, database)


__all__ = [
    "NewVoiceFiles",
    "PostgresVoiceStore",
    "StoredVoice",
    "VoiceStore",
    "VoiceStoreInterface",
    "build_voice_store",
    "canonical_voice_id",
    "now_iso",
    "parse_latent",
    "validate_voice_id",
]
