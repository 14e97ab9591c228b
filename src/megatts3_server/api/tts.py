"""POST /api/v1/tts/synthesize and /api/v1/tts/synthesize_file."""

from __future__ import annotations

from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response, StreamingResponse

from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.schemas import GUIDANCE_RANGE, PITCH_RANGE, SPEED_RANGE, TIME_STEP_RANGE, SynthesizeRequest
from megatts3_server.api.security import GUARDS
from megatts3_server.api.uploads import read_limited
from megatts3_server.audio import AudioFormat, parse_format
from megatts3_server.engines.base import SamplingOptions, VoiceContext
from megatts3_server.service.synthesis import AudioDescription, SynthesisParameters

router = APIRouter(prefix="/api/v1/tts", tags=["tts"], dependencies=GUARDS)

_AUDIO_RESPONSES = {200: {"content": {"audio/wav": {}}, "description": "The synthesized audio"}}


def _header(value: str) -> str:
    """HTTP header values are latin-1: percent-encode anything a client sent that is not plain ASCII."""
    return quote(value, safe=" '-_.,;:()/=")


def audio_headers(description: AudioDescription) -> dict[str, str]:
    """The headers every audio response carries, known before its first byte."""
    headers = {
        "X-Voice-Id": _header(description.voice_id),
        "X-Voice-Used": _header(description.voice_used),
        "X-Sample-Rate": str(description.sample_rate),
        "X-Emotion-Requested": _header(description.emotion_requested),
        "X-Emotion-Applied": description.emotion_applied,
        "X-Cache": "hit" if description.cached else "miss",
        "Content-Disposition": f'inline; filename="speech.{description.format.value}"',
    }
    if description.emotion_applied != description.emotion_requested.strip().lower():
        warning = f"emotion '{description.emotion_requested}' is not supported by this engine"
        headers["X-Emotion-Warning"] = _header(f"{warning}; spoken as '{description.emotion_applied}'")
    return headers


async def speak(
    services: Services,
    text: str,
    context: VoiceContext,
    params: SynthesisParameters,
    fmt: AudioFormat,
    *,
    stream: bool,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """Synthesize and answer: the whole file, or a stream that starts with the first sentence."""
    if stream:
        opened = await services.synthesis.open_stream(text, context, params, fmt)
        headers = {**audio_headers(opened.description), **(extra_headers or {})}
        return StreamingResponse(opened.chunks, media_type=opened.description.media_type, headers=headers)
    result = await services.synthesis.synthesize(text, context, params, fmt)
    headers = {
        **audio_headers(result.description),
        "X-Audio-Duration": f"{result.duration:.3f}",
        "X-Synthesis-Time": f"{result.synthesis_time:.3f}",
        **(extra_headers or {}),
    }
    return Response(content=result.audio, media_type=result.description.media_type, headers=headers)


@router.post("/synthesize", responses=_AUDIO_RESPONSES, summary="Speak text in a stored or built-in voice")
async def synthesize(body: SynthesizeRequest, services: Services = Depends(get_services)) -> Response:
    fmt = parse_format(body.format)
    services.synthesis.check_text(body.text)
    context = await anyio.to_thread.run_sync(
        services.voices.context, body.voice_id or services.settings.model.default_voice
    )
    chosen = body.parameters
    params = SynthesisParameters(
        speed=chosen.speed, pitch=chosen.pitch, emotion=chosen.emotion, options=chosen.sampling_options()
    )
    return await speak(services, body.text, context, params, fmt, stream=body.stream)


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
    stream: bool = Form(False),
    time_step: int | None = Form(None, ge=TIME_STEP_RANGE[0], le=TIME_STEP_RANGE[1]),
    p_w: float | None = Form(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1]),
    t_w: float | None = Form(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1]),
    seed: int | None = Form(None, ge=0, le=2**31 - 1),
    services: Services = Depends(get_services),
) -> Response:
    fmt = parse_format(format)
    services.synthesis.check_text(text)
    limit = int(services.settings.storage.max_voice_file_size)
    audio_bytes = await read_limited(voice_file, limit, "voice_file")
    latent_bytes = await read_limited(voice_latent, limit, "voice_latent") if voice_latent else None
    reference = await anyio.to_thread.run_sync(services.voices.read_reference, audio_bytes, latent_bytes)
    prepared, reused = await anyio.to_thread.run_sync(services.voices.prepare_one_shot, reference)
    context = services.voices.one_shot_context(reference, prepared)
    options = SamplingOptions(time_step=time_step, p_w=p_w, t_w=t_w, seed=seed)
    params = SynthesisParameters(speed=speed, pitch=pitch, emotion=emotion, options=options)
    headers = {"X-Voice-Prepared": "reused" if reused else "new"}
    if prepared.summary:
        headers["X-Voice-Note"] = _header(prepared.summary)
    return await speak(services, text, context, params, fmt, stream=stream, extra_headers=headers)
