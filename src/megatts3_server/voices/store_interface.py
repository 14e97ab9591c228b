"""What the services need of a voice store, whatever keeps it: SQLite + files (store.py, the default)
or PostgreSQL (postgres_store.py, shared by replicas).

Both raise the same errors: InvalidVoiceIdError for an unsafe id, VoiceExistsError for a taken one,
StorageFullError / StorageUnavailableError for faults of what lies beneath (storage_errors.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from megatts3_server.voices.records import NewVoiceFiles, StoredVoice


class VoiceStoreInterface(Protocol):
    def open(self) -> None:
        """Migrate, then recover: what the process that writes the store does at start-up."""

    def migrate(self) -> None:
        """Create the store if needed and bring its schema up to date (safe from a reader)."""

    def recover(self) -> None:
        """Remove what an interrupted write or delete left behind (the writer only)."""

    def close(self) -> None:
        """Release the connections held since migrate()."""

    def check(self) -> None:
        """Read the store once (the health probe)."""

    def get(self, voice_id: str) -> StoredVoice | None: ...

    def list(self) -> list[StoredVoice]:
        """Every voice, oldest first (then by id)."""

    def find_by_content(self, content_sha256: str, engine: str) -> StoredVoice | None:
        """The oldest voice prepared by ``engine`` from byte-identical reference audio, if any."""

    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles, *, replace_failed: bool = False) -> StoredVoice:
        """Store a new voice with its files, all or nothing; VoiceExistsError if the id is taken
        (unless ``replace_failed`` and that voice's enrollment failed: then it is replaced)."""

    def delete(self, voice_id: str) -> bool:
        """Remove a voice and its files; False when there was no such voice."""

    def unfinished(self) -> list[StoredVoice]:
        """Voices whose enrollment has not ended (pending or enrolling)."""

    def update_job(self, voice_id: str, **changes: Any) -> bool:
        """Change a voice's job fields; False if it is gone."""

    def complete_enrollment(
        self,
        voice_id: str,
        meta: Mapping[str, Any],
        summary: str,
        arrays: Mapping[str, np.ndarray],
        similarity: float | None,
    ) -> bool:
        """Store what enrollment made and mark the voice ready, atomically; False when it is gone."""

    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        """A voice's canonical reference WAV and its latent (None when it has none)."""

    def load_arrays(self, voice_id: str) -> dict[str, np.ndarray]:
        """The engine arrays stored with a voice (empty when it has none)."""
