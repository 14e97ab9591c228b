"""What the voice requests mean: the catalogue of built-in, uploaded and blend voices, uploads,
blends, deletes.

An upload is stored at once; turning it into a voice (enrollment) runs within the request when the
engine prepares quickly, else as a background job (service/enrollment.py) the client follows with
GET /api/v1/voices/{id}. A voice is usable once its status is ready. A blend recipe of built-in voices
(``af_bella(2)+af_sky(1)``, Engine.recipe_context) speaks wherever a voice is named, and can be
stored under an id of its own: a record with the normalized recipe and no recording.

A stored voice belongs to the tenant that stored it (tenancy.py): to any other caller but an admin
it does not exist (404), in the list, to show, to speak with or to delete. Ids stay unique across
tenants (one id space with the built-in voices), so a taken id is refused (409) whoever holds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from megatts3_server.audio import write_wav
from megatts3_server.config import CloningSettings, StorageSettings
from megatts3_server.engines.base import PreparedVoice, VoiceContext, is_blend_recipe
from megatts3_server.errors import (
    InvalidRequestError,
    VoiceEnrollingError,
    VoiceExistsError,
    VoiceNotFoundError,
    VoiceNotReadyError,
    VoiceReadOnlyError,
)
from megatts3_server.ratelimit import Quota
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.enrollment import EnrollmentJobs
from megatts3_server.service.one_shot import OneShotVoices, Reference
from megatts3_server.service.references import read_reference
from megatts3_server.service.voice_arrays import VoiceArrayCache
from megatts3_server.service.voice_blends import BLEND, blend_context, blend_record
from megatts3_server.tenancy import Caller
from megatts3_server.voices import (
    NewVoiceFiles,
    StoredVoice,
    VoiceStoreInterface,
    canonical_voice_id,
    now_iso,
    validate_voice_id,
)
from megatts3_server.voices.status import UNFINISHED, VoiceStatus


@dataclass(frozen=True)
class VoiceInfo:
    """A voice as the API shows it."""

    id: str
    name: str
    type: str
    description: str
    engine: str
    status: str = VoiceStatus.READY
    language: str | None = None
    gender: str | None = None
    created_at: str | None = None
    duration: float | None = None
    has_latent: bool = False
    summary: str = ""
    progress: float | None = None
    similarity: float | None = None
    error: str | None = None
    blend: str | None = None
    """A blend voice's normalized recipe."""


@dataclass(frozen=True)
class UploadOutcome:
    """What an upload became: the voice, whether it is ready now (else enrolling in the background)."""

    info: VoiceInfo
    ready: bool
    message: str


VoiceChanged = Callable[[str], Awaitable[None]]
"""Called with a voice id after that voice was stored anew or deleted (the app wires cache invalidation)."""


class VoiceService:
    """Built-in voices come from the engine, uploaded ones from the store; one id space for both."""

    def __init__(
        self,
        store: VoiceStoreInterface,
        loader: EngineLoader,
        storage: StorageSettings,
        cloning: CloningSettings,
        *,
        jobs: EnrollmentJobs,
        one_shot: OneShotVoices,
        arrays: VoiceArrayCache,
        enrollment: bool = True,
    ) -> None:
        """``jobs``: the enrollment jobs (started here when ``enrollment``, api.enrollment; without, an
        upload that enrolls in the background is stored pending for a worker elsewhere); ``one_shot``:
        synthesize_file's references; ``arrays``: the voices' arrays kept in memory, forgotten here
        whenever a voice changes. wiring.build_voice_service makes them from the settings."""
        self._store = store
        self._engine = loader.engine
        self._storage = storage
        self._cloning = cloning
        self.one_shot = one_shot
        self._enrollment = enrollment
        self.jobs = jobs
        self._listeners: list[VoiceChanged] = []
        self.arrays = arrays
        self.on_change(self._forget_arrays)

    def on_change(self, listener: VoiceChanged) -> None:
        """Call ``listener(voice_id)`` whenever a voice is stored anew or deleted."""
        self._listeners.append(listener)

    async def _forget_arrays(self, voice_id: str) -> None:
        self.arrays.forget(voice_id)

    async def _changed(self, voice_id: str) -> None:
        for listener in self._listeners:
            await listener(voice_id)

    def open(self, *, writer: bool = True) -> None:
        """Open the store; as its writer, also recover from any interrupted write and (unless
        enrollment is off here) start the enrollment worker, which resumes unfinished jobs. Call once
        at start-up."""
        if writer:
            self._store.open()
            if self._enrollment:
                self.jobs.start()
        else:
            self._store.migrate()

    def close(self) -> None:
        """Stop the enrollment worker (a running job is released: pending again, for any worker)."""
        self.jobs.stop()
        self._store.close()

    def check_store(self) -> None:
        """Read the store once; StorageUnavailableError when it cannot be read (the health probe)."""
        self._store.check()

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
        blend = voice.type == BLEND
        return VoiceInfo(
            id=voice.id,
            name=voice.name,
            type=voice.type,
            description=voice.description,
            engine=voice.engine,
            language=voice.meta.get("language") if blend else None,
            gender=voice.meta.get("gender") if blend else None,
            blend=voice.meta.get("recipe") if blend else None,
            created_at=voice.created_at,
            duration=None if blend else round(voice.duration, 3),
            has_latent=voice.has_latent,
            summary=voice.summary,
            status=voice.status,
            progress=round(voice.progress, 1),
            similarity=round(voice.similarity, 4) if voice.similarity is not None else None,
            error=voice.error or None,
        )

    def aliases(self) -> dict[str, str]:
        """Other names of built-in voices (OpenAI's voice names), as the engine gives them."""
        return self._engine.voice_aliases()

    def unaliased(self, name: str) -> str:
        """The voice id an OpenAI voice name stands for; any other name as it is."""
        return self._engine.voice_aliases().get(name.lower(), name)

    def default_voice(self, configured: str | None) -> str | None:
        """The voice of a request that names none: ``configured`` (model.default_voice), else the engine's."""
        return configured or self._engine.default_voice()

    def chosen(self, voice_id: str | None, configured: str | None) -> str:
        """The voice a request names, else the default one; 422 ``voice_required`` where there is none."""
        if chosen := voice_id or self.default_voice(configured):
            return chosen
        raise InvalidRequestError(
            f"name a voice: this engine ({self._engine.capabilities.name}) has no voice of its own to default to "
            "and model.default_voice is not set (GET /api/v1/voices lists the voices)",
            code="voice_required",
        )

    def list(self, caller: Caller) -> list[VoiceInfo]:
        """The built-in voices and the stored ones ``caller`` sees."""
        stored = [self._stored_info(voice) for voice in self._store.list() if caller.sees(voice.tenant)]
        return self._builtin_infos() + stored

    def _is_builtin(self, voice_id: str) -> bool:
        return any(voice.id.lower() == voice_id for voice in self._engine.builtin_voices())

    def _stored(self, voice_id: str, caller: Caller) -> StoredVoice:
        """``caller``'s stored voice ``voice_id``; VoiceNotFoundError for another tenant's, as for none."""
        stored = self._store.get(voice_id)
        if stored is None or not caller.sees(stored.tenant):
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}; GET /api/v1/voices lists them")
        return stored

    def get(self, voice_id: str, caller: Caller) -> VoiceInfo:
        voice_id = canonical_voice_id(voice_id)
        for info in self._builtin_infos():
            if info.id == voice_id:
                return info
        return self._stored_info(self._stored(voice_id, caller))

    def context(self, voice_id: str, caller: Caller) -> VoiceContext:
        """What the engine needs to speak in ``voice_id`` (a built-in voice, or one ``caller`` sees)."""
        voice_id = canonical_voice_id(voice_id)
        if is_blend_recipe(voice_id):
            return self._engine.recipe_context(voice_id)
        if self._is_builtin(voice_id):
            return self._engine.builtin_context(voice_id)
        stored = self._stored(voice_id, caller)
        if stored.type == BLEND:
            return blend_context(self._engine, stored)
        if stored.status == VoiceStatus.FAILED:
            raise VoiceNotReadyError(
                f"voice {voice_id!r} could not be enrolled: {stored.error}; "
                "upload a reference again under this id to replace it"
            )
        if stored.status != VoiceStatus.READY:
            raise VoiceNotReadyError(
                f"voice {voice_id!r} is still {stored.status} ({stored.progress:.0f} %); "
                f"GET /api/v1/voices/{voice_id} says when it is ready"
            )
        # What the voice sounds like: its reference, and what enrollment made of it (enrolled anew: new meta).
        made = hashlib.sha256(json.dumps(stored.meta, sort_keys=True).encode()).hexdigest()[:12]
        version = f"{stored.created_at}:{stored.content_sha256}:{made}"
        arrays = self.arrays.get(stored.id, version, lambda: self._store.load_arrays(stored.id))
        return VoiceContext(voice_id=stored.id, meta=stored.meta, arrays=arrays, version=version)

    def read_reference(self, audio_bytes: bytes, latent_bytes: bytes | None) -> Reference:
        """Decode and check an uploaded reference recording (and its latent, if any): references.py."""
        return read_reference(audio_bytes, latent_bytes, self._storage, self._engine.capabilities)

    def prepare(self, reference: Reference) -> PreparedVoice:
        """Enroll within the request (engines that prepare quickly; CPU work: call it off the event loop)."""
        return self._engine.enroll_voice(reference.audio, reference.latent, budget_seconds=self._cloning.budget_seconds)

    def check_new_id(self, voice_id: str, caller: Caller) -> str:
        """Validate an id for a new voice of ``caller``'s before any expensive work is done for it. Its
        own voice whose enrollment failed may be uploaded again under its id (the upload replaces it).
        Returns the id as stored (ids are case-insensitive: lower-cased)."""
        voice_id = canonical_voice_id(voice_id)
        validate_voice_id(voice_id)
        stored = None if self._is_builtin(voice_id) else self._store.get(voice_id)
        if stored is not None and stored.tenant != caller.tenant:
            # Taken by another tenant: said without a word about that voice.
            raise VoiceExistsError(f"the voice id {voice_id!r} is taken; pick another id")
        if self._is_builtin(voice_id) or (stored is not None and stored.status != VoiceStatus.FAILED):
            raise VoiceExistsError(f"a voice with id {voice_id!r} already exists; delete it first or pick another id")
        return voice_id

    def save(
        self,
        voice_id: str,
        name: str,
        description: str,
        reference: Reference,
        prepared: PreparedVoice | None,
        caller: Caller,
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
            status=VoiceStatus.READY if prepared else VoiceStatus.PENDING,
            progress=100.0 if prepared else 0.0,
            similarity=prepared.similarity if prepared else None,
            tenant=caller.tenant,
        )
        files = NewVoiceFiles(
            reference_wav=write_wav(reference.audio.samples, reference.audio.sample_rate),
            latent=reference.latent,
            arrays=prepared.arrays if prepared else {},
        )
        info = self._stored_info(self._store.save_atomic(stored, files, replace_failed=True))
        if prepared is None:
            self.jobs.submit(voice_id)
        return info

    async def upload(
        self,
        voice_id: str,
        name: str,
        description: str,
        audio: bytes,
        latent: bytes | None,
        quota: Quota,
        caller: Caller,
    ) -> UploadOutcome:
        """Check, store and enroll an uploaded reference as ``caller``'s: ready at once when the engine
        prepares quickly, else stored pending while a background job enrolls it."""
        voice_id = self.check_new_id(voice_id, caller)
        reference = await anyio.to_thread.run_sync(self.read_reference, audio, latent)
        await quota.charge()
        prepared = None if self.jobs.in_background else await anyio.to_thread.run_sync(self.prepare, reference)
        info = await anyio.to_thread.run_sync(self.save, voice_id, name, description, reference, prepared, caller)
        await self._changed(voice_id)
        if prepared is None:
            message = f"voice {voice_id!r} stored; enrolling it in the background"
        else:
            message = f"voice {voice_id!r} stored; {prepared.summary}".rstrip("; ")
        return UploadOutcome(info=info, ready=prepared is not None, message=message)

    def save_blend(self, voice_id: str, name: str, description: str, recipe: str, caller: Caller) -> VoiceInfo:
        """Store a blend recipe as ``caller``'s voice (checked and normalized by the engine first)."""
        record = blend_record(self._engine, self.check_new_id(voice_id, caller), name, description, recipe)
        record = dataclasses.replace(record, tenant=caller.tenant)
        return self._stored_info(self._store.save_atomic(record, NewVoiceFiles(reference_wav=b"")))

    async def add_blend(self, voice_id: str, name: str, description: str, recipe: str, caller: Caller) -> VoiceInfo:
        """Store a blend recipe as ``caller``'s voice and tell the listeners."""
        info = await anyio.to_thread.run_sync(self.save_blend, voice_id, name, description, recipe, caller)
        await self._changed(info.id)
        return info

    async def enroll(self, voice_id: str, quota: Quota, caller: Caller) -> VoiceInfo:
        """Enroll an uploaded voice ``caller`` sees anew from its stored reference, by the engine and
        budget in force now (one stored before the cloning extra was installed, with no search budget,
        or whose enrollment failed): pending, so not spoken with, until a worker has enrolled it."""
        voice_id = canonical_voice_id(voice_id)
        if self._is_builtin(voice_id):
            raise VoiceReadOnlyError(f"{voice_id!r} is a built-in voice; only uploaded voices are enrolled")
        stored = await anyio.to_thread.run_sync(self._stored, voice_id, caller)
        if stored.type == BLEND:
            raise VoiceReadOnlyError(f"{voice_id!r} is a blend of built-in voices: it has no recording to enroll")
        if stored.status in UNFINISHED:
            raise VoiceEnrollingError(
                f"voice {voice_id!r} is already {stored.status}; GET /api/v1/voices/{voice_id} follows it"
            )
        await quota.charge()
        if not await anyio.to_thread.run_sync(self.jobs.requeue, voice_id):
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}")
        await self._changed(voice_id)
        return await anyio.to_thread.run_sync(self.get, voice_id, caller)

    async def remove(self, voice_id: str, caller: Caller) -> None:
        """Delete an uploaded voice ``caller`` sees (cancelling its enrollment) and tell the listeners."""
        voice_id = canonical_voice_id(voice_id)
        await anyio.to_thread.run_sync(self.delete, voice_id, caller)
        await self._changed(voice_id)

    def delete(self, voice_id: str, caller: Caller) -> None:
        voice_id = canonical_voice_id(voice_id)
        if self._is_builtin(voice_id):
            raise VoiceReadOnlyError(f"{voice_id!r} is a built-in voice and cannot be deleted")
        validate_voice_id(voice_id)
        self._stored(voice_id, caller)  # another tenant's voice is not found, and its enrollment goes on
        self.jobs.cancel(voice_id)
        if not self._store.delete(voice_id, caller.only):
            raise VoiceNotFoundError(f"no voice with id {voice_id!r}")
