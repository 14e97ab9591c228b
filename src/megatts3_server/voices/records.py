"""What every voice store keeps of a voice, whatever its backend: the record (StoredVoice), its files
(NewVoiceFiles, named alike in every backend), the row a record becomes, and arrays as .npy bytes.

Arrays are written and read without pickle: a stored file can never run code when it is loaded.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from megatts3_server.errors import InvalidVoiceIdError
from megatts3_server.tenancy import DEFAULT_TENANT
from megatts3_server.voices.status import VoiceStatus

VOICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# A voice's files, by the names both backends give them (file names in its folder; blob names).
REFERENCE_FILE = "reference.wav"
LATENT_FILE = "latent.npy"
ARRAYS_DIR = "arrays"
"""Engine arrays are ``arrays/<name>.npy``."""
ARRAY_BLOBS = f"{ARRAYS_DIR}/%"
"""The LIKE pattern every engine array's blob name matches (array_file_name)."""

# Every column of a voice's row, in the order both stores write them: StoredVoice's fields.
COLUMNS = (
    "id",
    "name",
    "description",
    "type",
    "engine",
    "created_at",
    "duration",
    "sample_rate",
    "source_format",
    "content_sha256",
    "has_latent",
    "meta",
    "summary",
    "status",
    "progress",
    "similarity",
    "error",
    "attempts",
    "tenant",
)
SELECT_VOICES = f"SELECT {', '.join(COLUMNS)} FROM voices"
"""Every column of the voices' rows, in COLUMNS order (the PostgreSQL store's reads; voice_from_row's rows)."""
JOB_FIELDS = frozenset({"status", "progress", "similarity", "error", "attempts", "engine"})
"""The columns update_job may change (``engine``: the engine a voice is enrolled anew by)."""


def canonical_voice_id(voice_id: str) -> str:
    """Voice ids are case-insensitive: "Narrator" and "narrator" are one voice, stored lower-cased."""
    return voice_id.lower()


def validate_voice_id(voice_id: str) -> str:
    """Return the id if it is safe as a folder name and URL segment, else raise InvalidVoiceIdError."""
    if not VOICE_ID_PATTERN.fullmatch(voice_id):
        raise InvalidVoiceIdError(
            f"voice_id {voice_id!r} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return voice_id


@dataclass(frozen=True)
class StoredVoice:
    """One stored voice's metadata (its files are kept beside it by the store)."""

    id: str
    name: str
    description: str
    type: str
    engine: str
    created_at: str
    duration: float
    sample_rate: int
    source_format: str
    content_sha256: str
    has_latent: bool
    meta: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    status: str = VoiceStatus.READY
    """A VoiceStatus: pending (waiting for the enrollment worker), enrolling, ready or failed."""
    progress: float = 100.0
    similarity: float | None = None
    error: str = ""
    attempts: int = 0
    """Enrollment runs started: one more than finished means the process stopped during one."""
    tenant: str = DEFAULT_TENANT
    """Who owns the voice (tenancy.py): only it (and an admin) sees it. Ids stay unique across tenants."""


@dataclass(frozen=True)
class NewVoiceFiles:
    """What save_atomic writes next to the metadata."""

    reference_wav: bytes
    """Empty for a voice made without a recording (a blend of built-in voices)."""
    latent: np.ndarray | None = None
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


def replaceable(stored: Mapping[str, Any], voice: StoredVoice) -> bool:
    """Whether an upload of ``voice`` may replace the stored row of its id (save_atomic's
    ``replace_failed``): that voice's enrollment failed, and it is the same tenant's."""
    return stored["status"] == VoiceStatus.FAILED and stored["tenant"] == voice.tenant


def check_job_fields(changes: Mapping[str, Any]) -> None:
    """ValueError unless every key of ``changes`` is a job field (update_job changes nothing else)."""
    unknown = set(changes) - JOB_FIELDS
    if unknown:
        raise ValueError(f"not job fields: {sorted(unknown)}")


def voice_row(voice: StoredVoice) -> list[Any]:
    """The values of ``COLUMNS`` for ``voice``: ``meta`` as JSON text, the rest as they are."""
    values = {**asdict(voice), "meta": json.dumps(voice.meta)}
    return [values[column] for column in COLUMNS]


def voice_from_row(row: Mapping[str, Any]) -> StoredVoice:
    """A record from a row of ``COLUMNS``: ``meta`` JSON text (SQLite) or already decoded (PostgreSQL's
    jsonb), ``has_latent`` 0/1 or a boolean."""
    # Only these: a row also holds its job's lease (lease_owner, lease_expires), which is the store's
    # business, no part of the record (nor copied by voices migrate).
    values = {column: row[column] for column in COLUMNS}
    meta = values["meta"]
    values["meta"] = json.loads(meta) if isinstance(meta, str) else dict(meta)
    values["has_latent"] = bool(values["has_latent"])
    return StoredVoice(**values)


def attempts_spent_error(attempts: int) -> str:
    """The error of a voice whose enrollment was started ``attempts`` times (max_attempts) without ending."""
    return (
        f"enrollment was cut short {attempts} time(s) (the worker enrolling it stopped, or lost its lease, "
        "while enrolling)"
    )


def array_file_name(name: str) -> str:
    """The file (blob) name of an engine array: ``arrays/<name>.npy``, the name checked like an id."""
    return f"{ARRAYS_DIR}/{validate_voice_id(name)}.npy"


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a .npy file; ValueError for an object array (it would need pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    """The array in the bytes of a .npy file (never unpickled)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def now_iso() -> str:
    """Timestamps stored with voices: UTC, ISO 8601, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
