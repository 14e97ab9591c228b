"""POST /api/v1/tts/synthesize and /api/v1/tts/synthesize_file."""

from __future__ import annotations

from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import PITCH_RANGE, SPEED_RANGE, SynthesizeRequest
from megatts3_server.api.uploads import read_limited
from megatts3_server.audio import parse_format
from megatts3_server.service.synthesis import SynthesisParameters, SynthesisResult

router = APIRouter(prefix="/api/v1/tts", tags=["tts"])

_AUDIO_RESPONSES = {200: {"content": {"audio/wav": {}}, "description": "The synthesized audio"}}


def _header(value: str) -> str:
    """HTTP header values are latin-1: percent-encode anything a client sent that is not plain ASCII."""
    return quote(value, safe=" '-_.,;:()/=")


def _audio_response(result: SynthesisResult, voice_used: str) -> Response:
    headers = {
        "X-Voice-Id": result.voice_id,
        "X-Voice-Used": voice_used,
        "X-Sample-Rate": str(result.sample_rate),
        "X-Audio-Duration": f"{result.duration:.3f}",
        "X-Synthesis-Time": f"{result.synthesis_time:.3f}",
        "X-Emotion-Requested": _header(result.emotion_requested),
        "X-Emotion-Applied": result.emotion_applied,
        "Content-Disposition": f'inline; filename="speech.{result.format.value}"',
    }
    if result.emotion_applied != result.emotion_requested.strip().lower():
        warning = f"emotion '{result.emotion_requested}' is not supported by this engine"
        headers["X-Emotion-Warning"] = _header(f"{warning}; spoken as '{result.emotion_applied}'")
    return Response(content=result.audio, media_type=result.media_type, headers=headers)


@router.post("/synthesize", responses=_AUDIO_RESPONSES, summary="Speak text in a stored or built-in voice")
async def synthesize(body: SynthesizeRequest, services: Services = Depends(get_services)) -> Response:
    fmt = parse_format(body.format)
    services.synthesis.check_text(body.text)
    voice_id = body.voice_id or services.settings.model.default_voice
    context = services.voices.context(voice_id)
    params = SynthesisParameters(**body.parameters.model_dump())
    result = await services.synthesis.synthesize(body.text, context, params, fmt)
    return _audio_response(result, services.engine.voice_used(context))


@router.post(
    "/synthesize_file", responses=_AUDIO_RESPONSES, summary="One-shot synthesis with an uploaded reference voice"
)
async def synthesize_file(
    text: str = Form(..., description="Text to speak"),
    voice_file: UploadFile = File(..., description="Reference recording (wav, mp3, flac, m4a, ogg)"),
    voice_latent: UploadFile | None = File(None, description="The reference's WaveVAE latent (.npy)"),
    speed: float = Form(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1]),
    pitch: float = Form(1.0, ge=PITCH_RANGE[0], le=PITCH_RANGE[1]),
    emotion: str = Form("neutral", max_length=32),
    format: str = Form("wav"),
    services: Services = Depends(get_services),
) -> Response:
    fmt = parse_format(format)
    services.synthesis.check_text(text)
    limit = int(services.settings.storage.max_voice_file_size)
    audio_bytes = await read_limited(voice_file, limit, "voice_file")
    latent_bytes = await read_limited(voice_latent, limit, "voice_latent") if voice_latent else None
    reference = await anyio.to_thread.run_sync(services.voices.read_reference, audio_bytes, latent_bytes)
    prepared = await anyio.to_thread.run_sync(services.voices.prepare, reference)
    context = services.voices.one_shot_context(reference, prepared)
    params = SynthesisParameters(speed=speed, pitch=pitch, emotion=emotion)
    result = await services.synthesis.synthesize(text, context, params, fmt)
    response = _audio_response(result, services.engine.voice_used(context))
    if prepared.summary:
        response.headers["X-Voice-Note"] = _header(prepared.summary)
    return response
