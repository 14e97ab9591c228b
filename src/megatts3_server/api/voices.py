"""The voice catalogue: upload, list, show, delete."""

from __future__ import annotations

from dataclasses import asdict

import anyio
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import VoiceListOut, VoiceOut, VoiceUploadOut
from megatts3_server.api.security import GUARDS
from megatts3_server.api.uploads import read_limited

router = APIRouter(prefix="/api/v1/voices", tags=["voices"], dependencies=GUARDS)


@router.post(
    "/upload",
    status_code=201,
    response_model=VoiceUploadOut,
    responses={202: {"model": VoiceUploadOut, "description": "Stored; enrollment runs in the background"}},
    summary="Store a reference voice and enroll it",
)
async def upload_voice(
    voice_file: UploadFile = File(..., description="Reference recording (wav, mp3, flac, m4a, ogg)"),
    voice_id: str = Form(..., description="Id for the new voice: letters, digits, '_' or '-'"),
    description: str = Form("", max_length=1000),
    name: str = Form("", max_length=200, description="Display name (defaults to the id)"),
    voice_latent: UploadFile | None = File(None, description="The reference's WaveVAE latent (.npy)"),
    services: Services = Depends(get_services),
) -> JSONResponse:
    """201 with a ready voice when the engine prepares it quickly; else 202 at once, the voice pending
    while a background job enrolls it (follow ``status_url`` until ``status`` is ready)."""
    voices = services.voices
    voices.check_new_id(voice_id)
    limit = int(services.settings.storage.max_voice_file_size)
    audio_bytes = await read_limited(voice_file, limit, "voice_file")
    latent_bytes = await read_limited(voice_latent, limit, "voice_latent") if voice_latent else None
    reference = await anyio.to_thread.run_sync(voices.read_reference, audio_bytes, latent_bytes)
    background = voices.jobs.in_background
    prepared = None if background else await anyio.to_thread.run_sync(voices.prepare, reference)
    info = await anyio.to_thread.run_sync(voices.save, voice_id, name, description, reference, prepared)
    await services.synthesis.invalidate_voice(voice_id)
    if prepared is None:
        message = f"voice {voice_id!r} stored; enrolling it in the background"
    else:
        message = f"voice {voice_id!r} stored; {prepared.summary}".rstrip("; ")
    body = VoiceUploadOut(**asdict(info), message=message, status_url=f"{router.prefix}/{voice_id}")
    return JSONResponse(body.model_dump(), status_code=202 if background else 201)


@router.get("", response_model=VoiceListOut, summary="All voices, built-in and uploaded")
async def list_voices(services: Services = Depends(get_services)) -> VoiceListOut:
    infos = await anyio.to_thread.run_sync(services.voices.list)
    return VoiceListOut(voices=[VoiceOut(**asdict(info)) for info in infos])


@router.get("/{voice_id}", response_model=VoiceOut, summary="One voice")
async def get_voice(voice_id: str, services: Services = Depends(get_services)) -> VoiceOut:
    info = await anyio.to_thread.run_sync(services.voices.get, voice_id)
    return VoiceOut(**asdict(info))


@router.delete("/{voice_id}", summary="Delete an uploaded voice and its files")
async def delete_voice(voice_id: str, services: Services = Depends(get_services)) -> JSONResponse:
    await anyio.to_thread.run_sync(services.voices.delete, voice_id)
    await services.synthesis.invalidate_voice(voice_id)
    return JSONResponse({"id": voice_id, "deleted": True})
