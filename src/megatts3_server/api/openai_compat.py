"""The OpenAI-compatible speech API: POST /v1/audio/speech, GET /v1/models, GET /v1/audio/voices.

The official ``openai`` SDK works against it unchanged (base_url=http://host:9000/v1). OpenAI's
voice names map onto the built-in voices as the engine says (Engine.voice_aliases); any voice id (or
blend recipe) of this service works as well. As OpenAI's own
endpoint does, speech is streamed by default (the first sentence's audio is sent as soon as it is
made; the body read to its end is the complete file); ``"stream": false`` asks for the whole file at
once, with its duration in X-Audio-Duration.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Literal

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from megatts3_server import __version__
from megatts3_server.api import headers as h
from megatts3_server.api.cancellation import CancelOnDisconnectRoute
from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.fields import UnicodeStr
from megatts3_server.api.responses import speech_response
from megatts3_server.api.schemas import MAX_VOICE_NAME, VOICE_NAME_HELP, LexiconIn
from megatts3_server.api.security import GUARDS, checked_quota, current_caller
from megatts3_server.errors import ServiceError, StreamAbortedError
from megatts3_server.ratelimit import Quota
from megatts3_server.service.speech import SpeechRequest
from megatts3_server.service.synthesis import SynthesisParameters
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=GUARDS, route_class=CancelOnDisconnectRoute)

MODELS = ("megatts3", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
_CREATED = int(time.time())


class ModelNotFoundError(ServiceError):
    status = 404
    code = "model_not_found"


class OpenAISpeechRequest(BaseModel):
    # extra="ignore": newer SDK fields must not break older servers; strict: numbers are numbers.
    model_config = ConfigDict(extra="ignore", strict=True)

    model: UnicodeStr = Field(..., description=f"One of {', '.join(MODELS)}")
    input: str = Field(..., max_length=4096)  # Unicode: checked by SpeechRequest
    voice: UnicodeStr = Field(
        ..., min_length=1, max_length=MAX_VOICE_NAME, description=f"An OpenAI voice name; or {VOICE_NAME_HELP}"
    )
    response_format: UnicodeStr = Field("mp3", description="mp3, opus, aac, flac, wav or pcm (24 kHz s16le)")
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: UnicodeStr | None = Field(None, description="Accepted; this engine does not steer style by prompt")
    stream_format: Literal["audio", "sse"] = "audio"
    lexicon: LexiconIn = None  # extension: this request's readings
    stream: bool = Field(
        True, description="Extension: false sends the whole file at once instead of audio as it is made"
    )


@router.post("/audio/speech", summary="OpenAI-compatible text to speech")
async def speech(
    body: OpenAISpeechRequest,
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> Response:
    if body.model not in MODELS:
        raise ModelNotFoundError(f"model {body.model!r} does not exist; GET /v1/models lists them")
    sse = body.stream_format == "sse"
    request = SpeechRequest(
        text=body.input,
        voice_id=services.voices.unaliased(body.voice),
        params=SynthesisParameters(speed=body.speed),
        format=body.response_format,
        stream=body.stream or sse,
        lexicon=body.lexicon,
    )
    spoken = await services.speech.speak(request, quota, caller)
    note = {h.INSTRUCTIONS_APPLIED: "false"} if body.instructions else None
    if sse:
        return speech_response(spoken, note, wrap=_sse, media_type="text/event-stream")
    return speech_response(spoken, note)


async def _sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            event = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
            yield f"data: {json.dumps(event)}\n\n".encode()
    except StreamAbortedError as exc:
        failure = {"type": "error", "error": {"code": exc.code, "message": exc.message}}
        yield f"event: error\ndata: {json.dumps(failure)}\n\n".encode()
        raise  # and the body is cut off as well: no client takes the audio so far for all of it
    done = {"type": "speech.audio.done", "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}
    yield f"data: {json.dumps(done)}\n\n".encode()


@router.get("/models", summary="OpenAI-compatible model list")
async def models() -> dict[str, object]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": _CREATED, "owned_by": "megatts3-server"} for name in MODELS
        ],
    }


@router.get("/models/{model_id}", summary="One model")
async def model(model_id: str) -> dict[str, object]:
    if model_id not in MODELS:
        raise ModelNotFoundError(f"model {model_id!r} does not exist")
    return _model_card(model_id)


def _model_card(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": f"megatts3-server {__version__}"}


@router.get("/audio/voices", summary="Voices usable in /v1/audio/speech")
async def voices(
    services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, object]:
    infos = await anyio.to_thread.run_sync(services.voices.list, caller)
    return {
        "voices": [{"id": info.id, "name": info.name, "type": info.type} for info in infos],
        "aliases": services.voices.aliases(),
    }
