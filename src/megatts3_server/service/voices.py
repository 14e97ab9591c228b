"""What the voice requests mean: the catalogue of built-in and uploaded voices, uploads, deletes.

An upload is stored at once; turning it into a voice (enrollment) runs within the request when the
engine prepares quickly, else as a background job (service/enrollment.py) the client follows with
GET /api/v1/voices/{id}. A voice is usable once its status is ready.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from megatts3_server.audio import DecodedAudio, decode_audio, write_wav
from megatts3_server.audio.voicing import pitch_continuity
from megatts3_server.config import CloningSettings, StorageSettings
from megatts3_server.engines.base import Engine, PreparedVoice, VoiceContext
from megatts3_server.errors import (
    InvalidRequestError,
    VoiceExistsError,
    VoiceNotFoundError,
    VoiceNotReadyError,
    VoiceReadOnlyError,
)
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.voices import NewVoiceFiles, StoredVoice, VoiceStore, now_iso, parse_latent, validate_voice_id

MIN_REFERENCE_SECONDS = 1.0
# One-shot references prepared recently, by content: a client that sends the same reference again
# (a script read line by line) is not made to wait for the preparation again.
_ONE_SHOT_CACHE_SIZE = 64
# Peak below this (≈ -54 dBFS) is silence or a dead microphone, not a voice.
_SILENCE_PEAK = 2e-3
# Below this share of steadily pitched frames a recording is noise, not speech (audio/voicing.py).
_MIN_PITCH_CONTINUITY = 0.15


@dataclass(frozen=True)
class VoiceInfo:
    """A voice as the API shows it."""

    id: str
    name: str
    type: str
    description: str
    engine: str
    status: str = "ready"
    language: str | None = None
    gender: str | None = None
    created_at: str | None = None
    duration: float | None = None
    has_latent: bool = False
    summary: str = ""
    progress: float | None = None
    similarity: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Reference:
    """A decoded reference recording with what it takes to identify and store it."""

    audio: DecodedAudio
    latent: np.ndarray | None
    content_sha256: str


class VoiceService:
    """Built-in voices come from the engine, uploaded ones from the store; one id space for both."""

    def __init__(
        self, store: VoiceStore, engine: Engine, storage: StorageSettings, cloning: CloningSettings, timeout: float
    ) -> None:
        self._store = store
        self._engine = engine
        self._storage = storage
        self._cloning = cloning
        # A one-shot search must leave the request time to speak.
        self._one_shot_budget = min(cloning.one_shot_budget_seconds, timeout / 2)
        self.jobs = EnrollmentJobs(
            store, engine, budget_seconds=cloning.budget_seconds, max_attempts=cloning.max_attempts
        )
        self._one_shot: collections.OrderedDict[str, PreparedVoice] = collections.OrderedDict()
        self._one_shot_lock = threading.Lock()

    def open(self) -> None:
        """Open the store (recovering from any interrupted write) and start the enrollment worker,
        which resumes unfinished jobs; call once at start-up."""
        self._store.open()
        self.jobs.start()

    def close(self) -> None:
        """Stop the enrollment worker (a running job stays pending for the next start)."""
        self.jobs.stop()

    def _builtin_infos(self) -> list[VoiceInfo]:
        engine_name = self._engine.capabilities.name
        return [
            VoiceInfo(
                id=voice.id,
                name=voice.name,
                type="builtin",
                description=voice.description,
                engine=engine_name,
                language=voice.language,
                gender=voice.gender,
            )
            for voice in self._engine.builtin_voices()
        ]

    @staticmethod
    def _stored_info(voice: StoredVoice) -> VoiceInfo:
        return VoiceInfo(
            id=voice.id,
            name=voice.name,
            type=voice.type,
            description=voice.description,
            engine=voice.engine,
            created_at=voice.created_at,
            duration=round(voice.duration, 3),
            has_latent=voice.has_latent,
            summary=voice.summary,
            status=voice.status,
            progress=round(voice.progress, 1),
            similarity=round(voice.similarity, 4) if voice.similarity is not None else None,
            error=voice.error or None,
        )

    def list(self) -> list[VoiceInfo]:
        return self._builtin_infos() + [self._stored_info(voice) for voice in self._store.list()]

    def _is_builtin(self, voice_id: str) -> bool:
        return any(voice.id == voice_id for voice in self._engine.builtin_voices())

    def get(self, voice_id: str) -> VoiceInfo:
        for info in self._builtin_infos():
            if info.id == voice_id:
                return info
        stored = self._store.get(voice_id)
        if stored is None:
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}; GET /api/v1/voices lists them")
        return self._stored_info(stored)

    def context(self, voice_id: str) -> VoiceContext:
        """What the engine needs to speak in ``voice_id``."""
        if self._is_builtin(voice_id):
            return self._engine.builtin_context(voice_id)
        stored = self._store.get(voice_id)
        if stored is None:
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}; GET /api/v1/voices lists them")
        if stored.status == "failed":
            raise VoiceNotReadyError(f"voice {voice_id!r} could not be enrolled: {stored.error}; upload it again")
        if stored.status != "ready":
            raise VoiceNotReadyError(
                f"voice {voice_id!r} is still {stored.status} ({stored.progress:.0f} %); "
                f"GET /api/v1/voices/{voice_id} says when it is ready"
            )
        return VoiceContext(
            voice_id=stored.id,
            meta=stored.meta,
            arrays=self._store.load_arrays(stored.id),
            version=f"{stored.created_at}:{stored.content_sha256}",
        )

    def read_reference(self, audio_bytes: bytes, latent_bytes: bytes | None) -> Reference:
        """Decode and check an uploaded reference recording (and its latent, if any)."""
        if not audio_bytes:
            raise InvalidRequestError("voice_file is empty", code="empty_file")
        audio = decode_audio(
            audio_bytes,
            allowed_formats=self._storage.supported_formats,
            target_rate=self._engine.capabilities.sample_rate,
            max_seconds=self._storage.max_voice_seconds,
        )
        if audio.duration < MIN_REFERENCE_SECONDS:
            raise InvalidRequestError(
                f"voice_file is {audio.duration:.2f} s long; a reference needs at least {MIN_REFERENCE_SECONDS:.0f} s",
                code="audio_too_short",
            )
        if float(np.max(np.abs(audio.samples))) < _SILENCE_PEAK:
            raise InvalidRequestError("voice_file is silent; record the speaker's voice", code="silent_audio")
        if pitch_continuity(audio.samples, audio.sample_rate) < _MIN_PITCH_CONTINUITY:
            raise InvalidRequestError(
                "voice_file does not sound like speech (no steady voice pitch in it: noise, music or a "
                "bad microphone?); record the speaker talking in a quiet room",
                code="not_speech",
            )
        latent = parse_latent(latent_bytes) if latent_bytes is not None else None
        digest = hashlib.sha256(audio_bytes)
        if latent_bytes is not None:
            digest.update(latent_bytes)
        return Reference(audio=audio, latent=latent, content_sha256=digest.hexdigest())

    def prepare(self, reference: Reference) -> PreparedVoice:
        """Enroll within the request (engines that prepare quickly; CPU work: call it off the event loop)."""
        return self._engine.enroll_voice(reference.audio, reference.latent, budget_seconds=self._cloning.budget_seconds)

    def _stored_by_content(self, reference: Reference) -> PreparedVoice | None:
        """What enrollment made of a stored, ready voice with the same reference audio, if any."""
        stored = self._store.find_by_content(reference.content_sha256, self._engine.capabilities.name)
        if stored is None or stored.status != "ready":
            return None
        arrays = self._store.load_arrays(stored.id)
        return PreparedVoice(meta=stored.meta, arrays=arrays, summary=stored.summary, similarity=stored.similarity)

    def prepare_one_shot(self, reference: Reference) -> tuple[PreparedVoice, bool]:
        """The voice for a one-shot reference (a short enrollment) and whether it was reused: the same
        reference audio seen lately, or stored as a voice."""
        with self._one_shot_lock:
            prepared = self._one_shot.get(reference.content_sha256)
            if prepared is not None:
                self._one_shot.move_to_end(reference.content_sha256)
                return prepared, True
        prepared = self._stored_by_content(reference)
        reused = prepared is not None
        if prepared is None:
            prepared = self._engine.enroll_voice(
                reference.audio, reference.latent, budget_seconds=self._one_shot_budget
            )
        with self._one_shot_lock:
            self._one_shot[reference.content_sha256] = prepared
            while len(self._one_shot) > _ONE_SHOT_CACHE_SIZE:
                self._one_shot.popitem(last=False)
        return prepared, reused

    @staticmethod
    def one_shot_context(reference: Reference, prepared: PreparedVoice) -> VoiceContext:
        """A voice context for one request, named after the reference's content hash."""
        return VoiceContext(
            voice_id=f"upload-{reference.content_sha256[:12]}",
            meta=prepared.meta,
            arrays=prepared.arrays,
            version=reference.content_sha256,
        )

    def check_new_id(self, voice_id: str) -> str:
        """Validate an id for a new voice before any expensive work is done for it."""
        validate_voice_id(voice_id)
        if self._is_builtin(voice_id) or self._store.get(voice_id) is not None:
            raise VoiceExistsError(f"a voice with id {voice_id!r} already exists; delete it first or pick another id")
        return voice_id

    def save(
        self, voice_id: str, name: str, description: str, reference: Reference, prepared: PreparedVoice | None
    ) -> VoiceInfo:
        """Store an uploaded voice with its canonical mono WAV and the engine's prepared state; without
        a prepared state the voice is stored pending and its enrollment job queued."""
        stored = StoredVoice(
            id=voice_id,
            name=name or voice_id,
            description=description,
            type="uploaded",
            engine=self._engine.capabilities.name,
            created_at=now_iso(),
            duration=reference.audio.duration,
            sample_rate=reference.audio.sample_rate,
            source_format=reference.audio.source_format,
            content_sha256=reference.content_sha256,
            has_latent=reference.latent is not None,
            meta=prepared.meta if prepared else {},
            summary=prepared.summary if prepared else "",
            status="ready" if prepared else "pending",
            progress=100.0 if prepared else 0.0,
            similarity=prepared.similarity if prepared else None,
        )
        files = NewVoiceFiles(
            reference_wav=write_wav(reference.audio.samples, reference.audio.sample_rate),
            latent=reference.latent,
            arrays=prepared.arrays if prepared else {},
        )
        info = self._stored_info(self._store.save_atomic(stored, files))
        if prepared is None:
            self.jobs.submit(voice_id)
        return info

    def delete(self, voice_id: str) -> None:
        if self._is_builtin(voice_id):
            raise VoiceReadOnlyError(f"{voice_id!r} is a built-in voice and cannot be deleted")
        validate_voice_id(voice_id)
        self.jobs.cancel(voice_id)
        if not self._store.delete(voice_id):
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}")
