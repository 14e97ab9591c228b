"""POST /api/v1/tts/synthesize and /api/v1/tts/synthesize_file.

synthesize_file speaks both vocabularies: the integration guide's (``voice_file``, ``voice_latent``)
and the AI-Sound platform backend's (``audio_file``, ``latent_file``, numbers sent as strings).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from megatts3_server.api.cancellation import CancelOnDisconnectRoute
from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.fields import UnicodeStr
from megatts3_server.api.responses import AUDIO_RESPONSES, speech_response
from megatts3_server.api.schemas import (
    GUIDANCE_RANGE,
    PITCH_RANGE,
    SPEED_RANGE,
    TIME_STEP_RANGE,
    SynthesizeRequest,
    synthesis_parameters,
)
from megatts3_server.api.security import GUARDS, checked_quota, current_caller
from megatts3_server.api.uploads import lexicon_form_field, one_of, read_limited
from megatts3_server.ratelimit import Quota
from megatts3_server.service.speech import ReferenceUpload, SpeechRequest
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/api/v1/tts", tags=["tts"], dependencies=GUARDS, route_class=CancelOnDisconnectRoute)


@router.post("/synthesize", responses=AUDIO_RESPONSES, summary="Speak text in a stored or built-in voice")
async def synthesize(
    body: SynthesizeRequest,
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> Response:
    params = body.parameters.checked()
    request = SpeechRequest(body.text, body.voice_id, params, body.format, body.stream, body.lexicon)
    return speech_response(await services.speech.speak(request, quota, caller))


@router.post(
    "/synthesize_file", responses=AUDIO_RESPONSES, summary="One-shot synthesis with an uploaded reference voice"
)
async def synthesize_file(
    text: str = Form(..., description="Text to speak"),  # Unicode: checked by SpeechRequest
    voice_file: UploadFile | None = File(None, description="Reference recording (wav, mp3, flac, m4a, ogg)"),
    audio_file: UploadFile | None = File(None, description="Another name of voice_file (the AI-Sound backend's)"),
    voice_latent: UploadFile | None = File(None, description="The reference's WaveVAE latent (.npy)"),
    latent_file: UploadFile | None = File(None, description="Another name of voice_latent (the AI-Sound backend's)"),
    speed: float = Form(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1]),
    pitch: float = Form(1.0, ge=PITCH_RANGE[0], le=PITCH_RANGE[1]),
    emotion: UnicodeStr = Form("neutral", max_length=32),
    format: UnicodeStr = Form("wav"),
    stream: bool = Form(False),
    time_step: int | None = Form(None, ge=TIME_STEP_RANGE[0], le=TIME_STEP_RANGE[1]),
    p_w: float | None = Form(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1]),
    t_w: float | None = Form(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1]),
    seed: int | None = Form(None, ge=0, le=2**31 - 1),
    lexicon: UnicodeStr | None = Form(None, description="This request's readings: a JSON object word -> reading"),
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> Response:
    recording = one_of({"voice_file": voice_file, "audio_file": audio_file}, required=True)
    latent = one_of({"voice_latent": voice_latent, "latent_file": latent_file}, required=False)
    limit = int(services.settings.storage.max_voice_file_size)
    reference = ReferenceUpload(
        audio=await read_limited(recording, limit),
        latent=await read_limited(latent, limit) if latent else None,
    )
    params = synthesis_parameters(
        speed=speed, pitch=pitch, emotion=emotion, time_step=time_step, p_w=p_w, t_w=t_w, seed=seed
    )
    request = SpeechRequest(text, None, params, format, stream, lexicon_form_field(lexicon))
    return speech_response(await services.speech.speak_with_reference(request, reference, quota, caller))
