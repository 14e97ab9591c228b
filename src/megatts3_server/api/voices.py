"""The voice catalogue: upload, blend, list, show, delete, enroll anew."""

from __future__ import annotations

from dataclasses import asdict

import anyio
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.fields import UnicodeStr
from megatts3_server.api.schemas import VoiceBlendIn, VoiceListOut, VoiceOut, VoiceUploadOut
from megatts3_server.api.security import CHARGED, GUARDS, checked_quota, current_caller
from megatts3_server.api.uploads import one_of, read_limited
from megatts3_server.ratelimit import Quota
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/api/v1/voices", tags=["voices"], dependencies=GUARDS)


@router.post(
    "/upload",
    status_code=201,
    response_model=VoiceUploadOut,
    responses={202: {"model": VoiceUploadOut, "description": "Stored; enrollment runs in the background"}},
    summary="Store a reference voice and enroll it",
)
async def upload_voice(
    voice_id: UnicodeStr = Form(..., description="Id for the new voice: letters, digits, '_' or '-'"),
    voice_file: UploadFile | None = File(None, description="Reference recording (wav, mp3, flac, m4a, ogg)"),
    audio_file: UploadFile | None = File(None, description="Another name of voice_file (the AI-Sound backend's)"),
    description: UnicodeStr = Form("", max_length=1000),
    name: UnicodeStr = Form("", max_length=200, description="Display name (defaults to the id)"),
    voice_latent: UploadFile | None = File(None, description="The reference's WaveVAE latent (.npy)"),
    latent_file: UploadFile | None = File(None, description="Another name of voice_latent (the AI-Sound backend's)"),
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> JSONResponse:
    """201 with a ready voice when the engine prepares it quickly; else 202 at once, the voice pending
    while a background job enrolls it (follow ``status_url`` until ``status`` is ready)."""
    recording = one_of({"voice_file": voice_file, "audio_file": audio_file}, required=True)
    latent = one_of({"voice_latent": voice_latent, "latent_file": latent_file}, required=False)
    limit = int(services.settings.storage.max_voice_file_size)
    audio = await read_limited(recording, limit)
    latent_bytes = await read_limited(latent, limit) if latent else None
    outcome = await services.voices.upload(voice_id, name, description, audio, latent_bytes, quota, caller)
    body = VoiceUploadOut(
        **asdict(outcome.info), message=outcome.message, status_url=f"{router.prefix}/{outcome.info.id}"
    )
    return JSONResponse(body.model_dump(), status_code=201 if outcome.ready else 202)


@router.post(
    "", status_code=201, response_model=VoiceOut, summary="Store a blend of built-in voices", dependencies=CHARGED
)
async def create_blend(
    body: VoiceBlendIn, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> VoiceOut:
    """A recipe such as ``af_bella(2)+af_sky(1)`` stored under an id of its own (type ``blend``), the caller's."""
    info = await services.voices.add_blend(body.voice_id, body.name, body.description, body.blend, caller)
    return VoiceOut(**asdict(info))


@router.get("", response_model=VoiceListOut, summary="The built-in voices and the caller's uploaded ones and blends")
async def list_voices(
    services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> VoiceListOut:
    infos = await anyio.to_thread.run_sync(services.voices.list, caller)
    return VoiceListOut(voices=[VoiceOut(**asdict(info)) for info in infos])


@router.get("/{voice_id}", response_model=VoiceOut, summary="One voice")
async def get_voice(
    voice_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> VoiceOut:
    info = await anyio.to_thread.run_sync(services.voices.get, voice_id, caller)
    return VoiceOut(**asdict(info))


@router.post(
    "/{voice_id}/enroll",
    status_code=202,
    response_model=VoiceUploadOut,
    summary="Enroll an uploaded voice anew from its stored reference (engine and budget now in force)",
)
async def enroll_voice(
    voice_id: str,
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> JSONResponse:
    """202 with the voice, pending until enrolled (follow ``status_url``); 404 for no such voice (or
    another tenant's), 403 for a built-in one, 409 while its enrollment is pending or running."""
    info = await services.voices.enroll(voice_id, quota, caller)
    message = f"voice {info.id!r} queued for enrollment"
    body = VoiceUploadOut(**asdict(info), message=message, status_url=f"{router.prefix}/{info.id}")
    return JSONResponse(body.model_dump(), status_code=202)


@router.delete("/{voice_id}", summary="Delete an uploaded voice and its files", dependencies=CHARGED)
async def delete_voice(
    voice_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> JSONResponse:
    await services.voices.remove(voice_id, caller)
    return JSONResponse({"id": voice_id, "deleted": True})
