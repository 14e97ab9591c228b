"""Long-form jobs: POST /api/v1/tts/jobs (a chapter, a script or a screenplay), their state (JSON and
Server-Sent Events), cancel/delete, and the results: the track (HTTP Range), timestamps, SRT, WebVTT."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from megatts3_server.api import headers as h
from megatts3_server.api.dependencies import Services, get_services
from megatts3_server.api.fields import UnicodeStr
from megatts3_server.api.ranges import RangeFileResponse
from megatts3_server.api.responses import attachment
from megatts3_server.api.schemas import MAX_VOICE_NAME, VOICE_NAME_HELP, LexiconIn, SynthesisParametersIn
from megatts3_server.api.security import CHARGED, GUARDS, checked_quota, current_caller
from megatts3_server.audio import MEDIA_TYPES, AudioFormat
from megatts3_server.jobs import track
from megatts3_server.jobs.records import FINISHED
from megatts3_server.jobs.script import ScriptLine
from megatts3_server.ratelimit import Quota
from megatts3_server.service.casting import VoiceHint
from megatts3_server.service.jobs import JobRequest, JobView
from megatts3_server.tenancy import Caller

router = APIRouter(prefix="/api/v1/tts/jobs", tags=["jobs"], dependencies=GUARDS)

# How often the event stream looks at a running job.
_EVENT_POLL_SECONDS = 0.5


class ScriptLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    voice_id: UnicodeStr = Field(..., min_length=1, max_length=MAX_VOICE_NAME, description=VOICE_NAME_HELP)
    text: str = Field(..., description="What this voice says")  # Unicode: checked by JobRequest
    parameters: SynthesisParametersIn = SynthesisParametersIn()
    pause_ms: int | None = Field(None, ge=0, le=60_000, description="Silence after this line (default: by speaker)")
    speaker: UnicodeStr | None = Field(None, max_length=100, description="Shown in timestamps and subtitles")

    def checked(self) -> ScriptLine:
        return ScriptLine(self.voice_id, self.text, self.parameters.checked(), self.pause_ms, self.speaker)


class VoiceHintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    gender: Literal["female", "male"] | None = Field(None, description="The voice to cast: female or male")
    language: UnicodeStr | None = Field(
        None, min_length=1, max_length=16, description="Native in this language (zh, en...); default: the lines'"
    )


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # The texts to speak (text, screenplay, a script line's text) are checked for Unicode by JobRequest.
    text: str | None = Field(None, description="A whole chapter in one voice (a paragraph per line)")
    voice_id: UnicodeStr | None = Field(
        None, min_length=1, max_length=MAX_VOICE_NAME, description=f"The chapter's voice: {VOICE_NAME_HELP}"
    )
    script: list[ScriptLineIn] | None = Field(None, description="Lines, each in its own voice")
    screenplay: str | None = Field(None, description="'name：text' lines; 'voices' maps names to voices")
    voices: dict[str, UnicodeStr | VoiceHintIn | None] | None = Field(
        None,
        description="Screenplay speaker name -> voice id, or a hint ({'gender': 'male'}) for the voice the service "
        "casts; a speaker left out (or null) is cast freely",
    )
    parameters: SynthesisParametersIn = SynthesisParametersIn()
    format: UnicodeStr = Field("wav", description="The track's format: wav, mp3, flac, ogg, opus, aac or pcm")
    title: UnicodeStr = Field("", max_length=200)
    lexicon: LexiconIn = None


def _voices(voices: dict[str, str | VoiceHintIn | None] | None) -> dict[str, str | VoiceHint] | None:
    """The screenplay's voices as the service takes them: ids, and hints for those to cast."""
    if voices is None:
        return None
    return {
        name: voice if isinstance(voice, str) else VoiceHint(**voice.model_dump()) if voice else VoiceHint()
        for name, voice in voices.items()
    }


def _job_json(view: JobView) -> dict[str, Any]:
    record = view.record
    return {
        "id": record.id,
        "title": record.title,
        "status": record.status,
        "format": record.format,
        "progress": view.progress,
        "segments_total": record.segments_total,
        "segments_done": record.segments_done,
        "segments_failed": record.segments_failed,
        "audio_seconds": round(record.audio_seconds, 3),
        "seconds_left": view.seconds_left,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "error": record.error,
        "errors": view.errors,
        "cast": view.cast,
        "status_url": f"{router.prefix}/{record.id}",
        "events_url": f"{router.prefix}/{record.id}/events",
        "audio_url": f"{router.prefix}/{record.id}/audio",
    }


@router.post("", status_code=202, summary="Make a chapter, script or screenplay into one track")
async def create_job(
    body: JobIn,
    services: Services = Depends(get_services),
    quota: Quota = Depends(checked_quota),
    caller: Caller = Depends(current_caller),
) -> JSONResponse:
    request = JobRequest(
        text=body.text,
        voice_id=body.voice_id,
        parameters=body.parameters.checked(),
        script=[line.checked() for line in body.script] if body.script is not None else None,
        screenplay=body.screenplay,
        voices=_voices(body.voices),
        format=body.format,
        title=body.title,
        lexicon=body.lexicon,
    )
    record = await services.jobs.create(request, quota, caller)
    view = await anyio.to_thread.run_sync(services.jobs.view, record.id, caller)
    return JSONResponse(_job_json(view), status_code=202)


@router.get("", summary="The caller's stored jobs")
async def list_jobs(
    services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, Any]:
    views = await anyio.to_thread.run_sync(services.jobs.views, caller)
    return {"jobs": [_job_json(view) for view in views]}


@router.get("/{job_id}", summary="A job's state: status, progress, time left, per-segment errors")
async def get_job(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, Any]:
    view = await anyio.to_thread.run_sync(services.jobs.view, job_id, caller)
    return {**_job_json(view), "segments": view.segments}


@router.get("/{job_id}/events", summary="The job's state as Server-Sent Events until it ends")
async def job_events(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> StreamingResponse:
    views = await services.jobs.watch(job_id, _EVENT_POLL_SECONDS, caller)  # 404 before the stream starts

    async def events() -> AsyncIterator[bytes]:
        async for view in views:
            body = json.dumps(_job_json(view), ensure_ascii=False)
            yield f"event: progress\ndata: {body}\n\n".encode()
            if view.record.status in FINISHED:
                yield f"event: {view.record.status}\ndata: {body}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.delete("/{job_id}", summary="Cancel a running job, or delete a finished one", dependencies=CHARGED)
async def delete_job(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, Any]:
    outcome = await services.jobs.delete(job_id, caller)
    return {"id": job_id, outcome: True}


@router.get("/{job_id}/audio", summary="The whole track (HTTP Range supported)")
async def job_audio(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> RangeFileResponse:
    found = await anyio.to_thread.run_sync(services.jobs.result, job_id, "track", caller)
    extension = found.path.suffix.removeprefix(".")
    disposition = {h.CONTENT_DISPOSITION: attachment(found.title, extension)}
    return RangeFileResponse(found.path, media_type=MEDIA_TYPES[AudioFormat(extension)], headers=disposition)


@router.get("/{job_id}/timestamps", summary="Every segment's and sentence's start and end, speaker and text")
async def job_timestamps(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(services.jobs.timestamps, job_id, caller)


@router.get("/{job_id}/subtitles.srt", summary="Subtitles (SubRip), a cue per sentence")
async def job_srt(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> PlainTextResponse:
    stamps = await anyio.to_thread.run_sync(services.jobs.timestamps, job_id, caller)
    disposition = {h.CONTENT_DISPOSITION: attachment(stamps["title"], "srt")}
    return PlainTextResponse(track.srt(stamps), media_type="application/x-subrip", headers=disposition)


@router.get("/{job_id}/subtitles.vtt", summary="Subtitles (WebVTT), a cue per sentence with its speaker")
async def job_vtt(
    job_id: str, services: Services = Depends(get_services), caller: Caller = Depends(current_caller)
) -> PlainTextResponse:
    stamps = await anyio.to_thread.run_sync(services.jobs.timestamps, job_id, caller)
    disposition = {h.CONTENT_DISPOSITION: attachment(stamps["title"], "vtt")}
    return PlainTextResponse(track.vtt(stamps), media_type="text/vtt", headers=disposition)
