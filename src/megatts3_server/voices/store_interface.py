"""What the services need of a voice store, whatever keeps it: SQLite + files (store.py, the default)
or PostgreSQL (postgres_store.py, shared by replicas).

Both raise the same errors: InvalidVoiceIdError for an unsafe id, VoiceExistsError for a taken one,
StorageFullError / StorageUnavailableError for faults of what lies beneath (storage/faults.py).
VoiceStoreInterface is the whole of it; EnrollmentQueueInterface, the part that runs enrollment jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from megatts3_server.voices.records import NewVoiceFiles, StoredVoice


class EnrollmentQueueInterface(Protocol):
    """The enrollment jobs kept on the voices' rows, and their leases (enrollment_tables.py)."""

    def unfinished(self) -> list[StoredVoice]:
        """Voices whose enrollment has not ended (pending or enrolling)."""

    def update_job(self, voice_id: str, **changes: Any) -> bool:
        """Change a voice's job fields; False if it is gone."""

    def claim_job(
        self, owner: str, *, engine: str, lease_seconds: float, max_attempts: int, voice_id: str | None = None
    ) -> StoredVoice | None:
        """Claim the oldest claimable job of ``engine``'s voices (pending, or enrolling under an expired
        lease; only ``voice_id``'s when given) for ``owner``: enrolling at 0 %, one attempt more, leased
        for ``lease_seconds``. Never the same job to two claimants. Jobs met on the way that were
        started ``max_attempts`` times are marked failed. None when there is nothing to claim."""

    def renew_lease(self, voice_id: str, owner: str, lease_seconds: float, **changes: Any) -> bool:
        """While ``owner`` holds the job's lease: change job fields and extend the lease to
        ``lease_seconds`` from now; False when it no longer holds it (released, taken over, deleted)."""

    def end_lease(self, voice_id: str, owner: str, **changes: Any) -> bool:
        """While ``owner`` holds the job's lease: change job fields and clear the lease; False (and
        nothing changed) when it no longer holds it."""

    def requeue_interrupted(self, max_attempts: int) -> list[StoredVoice]:
        """Jobs no live worker runs shown for what they are (enrolling: pending again at 0 %; started
        ``max_attempts`` times: failed); a live lease of another replica is left alone. Returns the
        voices changed."""

    def complete_enrollment(
        self,
        voice_id: str,
        meta: Mapping[str, Any],
        summary: str,
        arrays: Mapping[str, np.ndarray],
        similarity: float | None,
        *,
        owner: str | None = None,
    ) -> bool:
        """Store what enrollment made and mark the voice ready, atomically; False when it is gone, or
        when ``owner`` (if given) no longer holds its job's lease."""


class VoiceStoreInterface(EnrollmentQueueInterface, Protocol):
    """Everything the services use of a voice store: the catalogue and its files and the enrollment
    jobs (EnrollmentQueueInterface)."""

    def open(self) -> None:
        """Migrate, then recover: what the process that writes the store does at start-up."""

    def migrate(self) -> None:
        """Create the store if needed and bring its schema up to date (safe from a reader)."""

    def recover(self) -> None:
        """Remove what an interrupted write or delete left behind (the writer only)."""

    def close(self) -> None:
        """Release what the store itself holds since migrate() (SQLite: the connection that keeps its
        WAL index); the database's pool is its builder's to close (storage/databases.py)."""

    def check(self) -> None:
        """Read the store once (the health probe)."""

    def get(self, voice_id: str) -> StoredVoice | None: ...

    def list(self) -> list[StoredVoice]:
        """Every voice, oldest first (then by id)."""

    def find_by_content(self, content_sha256: str, engine: str, tenant: str) -> StoredVoice | None:
        """The oldest voice of ``tenant`` prepared by ``engine`` from byte-identical reference audio, if any."""

    def save_atomic(self, voice: StoredVoice, files: NewVoiceFiles, *, replace_failed: bool = False) -> StoredVoice:
        """Store a new voice with its files, all or nothing; VoiceExistsError if the id is taken, by any
        tenant (unless ``replace_failed`` and that voice, the same tenant's, failed: then it is replaced)."""

    def delete(self, voice_id: str, tenant: str | None = None) -> bool:
        """Remove a voice (``tenant``'s only, when given) and its files; False when there was no such voice."""

    def load_reference(self, voice_id: str) -> tuple[bytes, np.ndarray | None]:
        """A voice's canonical reference WAV and its latent (None when it has none)."""

    def load_arrays(self, voice_id: str) -> dict[str, np.ndarray]:
        """The engine arrays stored with a voice (empty when it has none)."""
