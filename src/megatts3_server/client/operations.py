"""The I/O-free half of the client: request shapes, retries and results, written once.

Each operation of the service is a generator that yields the steps it needs (send this request, wait
this long) and receives each response back. ``MegaTTS3Client`` runs those steps with httpx.Client
and time.sleep, ``AsyncMegaTTS3Client`` with httpx.AsyncClient and anyio.sleep, so the two cannot
drift apart in what they send, retry or raise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Generator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypedDict, TypeVar
from urllib.parse import quote

import httpx

from megatts3_server import __version__
from megatts3_server.client.errors import (
    JobFailedError,
    MegaTTS3Error,
    MegaTTS3TimeoutError,
    VoiceEnrollmentError,
    error_from_response,
)
from megatts3_server.voices.status import VoiceStatus

log = logging.getLogger("megatts3_server.client")

DEFAULT_URL = "http://localhost:9000"
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "opus", "aac", "pcm")
_RETRY_STATUSES = frozenset({429, 503})

FileSource = str | os.PathLike[str] | bytes | BinaryIO
VoiceProgress = Callable[[dict[str, Any]], None]
JobProgress = Callable[[dict[str, Any]], None]
"""Called with the job's state at each poll (``status``, ``progress`` 0-100, ``segments_done`` ...)."""


class SpeechParams(TypedDict, total=False):
    """How to speak; what is left out takes the server's default."""

    speed: float  # 0.5-2, 1.0 = the voice as is
    pitch: float  # 0.5-2, duration kept
    emotion: str  # rendered if the engine can, else spoken neutrally (X-Emotion-Warning)


def http_options(base_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    """What both clients give their httpx client."""
    headers = {"User-Agent": f"megatts3-client/{__version__}"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return {"base_url": base_url, "headers": headers, "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0))}


def audio_format_for(path: str | os.PathLike[str], format: str | None = None) -> str:
    """``format`` if given, else the file's suffix when it names a format, else wav."""
    if format:
        return format
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in AUDIO_FORMATS else "wav"


@dataclass(frozen=True)
class Send:
    """Step: send this request (``stream``: leave the body unread) and give back the response."""

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


@dataclass(frozen=True)
class Wait:
    """Step: sleep this long, then carry on (None is sent back)."""

    seconds: float


T = TypeVar("T")
Operation = Generator[Send | Wait, httpx.Response | None, T]


def _upload(stack: ExitStack, source: FileSource) -> tuple[str, bytes | BinaryIO]:
    """A multipart file field: a path is opened here and closed with ``stack``; a caller's handle stays open."""
    if isinstance(source, bytes):
        return "upload", source
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return path.name, stack.enter_context(path.open("rb"))
    return Path(getattr(source, "name", "upload")).name, source


def _speech(params: SpeechParams) -> dict[str, Any]:
    unknown = set(params) - set(SpeechParams.__annotations__)
    if unknown:
        raise TypeError(f"unknown speech parameter(s) {sorted(unknown)}; use speed, pitch or emotion")
    return {key: value for key, value in params.items() if value is not None}


def _voice_path(voice_id: str) -> str:
    return "/api/v1/voices/" + quote(voice_id, safe="")


class Operations:
    """The service's operations, free of I/O: each yields its steps and returns its result."""

    def __init__(self, retries: int, max_retry_wait: float) -> None:
        self._retries = retries
        self._max_retry_wait = max_retry_wait

    def call(self, method: str, path: str, *, stream: bool = False, **options: Any) -> Operation[httpx.Response]:
        """One request, retried after 429/503; the successful response, or the typed error."""
        attempt = 0
        while True:
            response = yield Send(method, path, options, stream)
            assert response is not None
            if not response.is_error:
                return response
            error = error_from_response(response)
            delay = self._retry_delay(error, attempt)
            if delay is None:
                raise error
            attempt += 1
            log.info(
                "%s %s answered %s %s; retry %d of %d in %.1f s",
                method,
                path,
                error.status,
                error.code,
                attempt,
                self._retries,
                delay,
            )
            yield Wait(delay)

    def _retry_delay(self, error: MegaTTS3Error, attempt: int) -> float | None:
        if error.status not in _RETRY_STATUSES or attempt >= self._retries:
            return None
        delay = error.retry_after if error.retry_after is not None else 0.5 * 2**attempt
        # Waiting longer than the caller allows would only delay the same error.
        return delay if delay <= self._max_retry_wait else None

    def json(self, method: str, path: str, **options: Any) -> Operation[Any]:
        return (yield from self.call(method, path, **options)).json()

    def health(self) -> Operation[dict[str, Any]]:
        """The /health body, whatever the service's state: it answers 503 with the same body while
        starting, failed or unavailable (``status`` says which); not retried, it reports what is now."""
        response = yield Send("GET", "/health")
        assert response is not None
        if response.status_code == 503:
            with contextlib.suppress(ValueError):
                body = response.json()
                if isinstance(body, dict) and "status" in body:
                    return body
        if response.is_error:
            raise error_from_response(response)
        return response.json()

    def wait_until_healthy(self, timeout: float, poll_interval: float) -> Operation[dict[str, Any]]:
        """Poll /health until the service can synthesize (healthy, or degraded: speech served while a
        part such as the cache or the storage disk is in trouble); its body. A failed engine is raised at once
        (it stays failed until a restart); a service still starting after ``timeout`` s, or unreachable
        throughout, raises MegaTTS3TimeoutError."""
        deadline = time.monotonic() + timeout
        last: Exception | str = "no answer yet"
        while True:
            try:
                health = yield from self.health()
            except MegaTTS3Error as exc:  # not up yet: connection refused, a proxy's 502...
                last = exc
            else:
                if health.get("status") in ("healthy", "degraded"):
                    return health
                if health.get("status") == "failed":
                    reason = health.get("engine", {}).get("error", "see the service's log")
                    raise MegaTTS3Error(f"the engine failed to load: {reason}", status=503, code="engine_failed")
                last = f"status {health.get('status')!r}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MegaTTS3TimeoutError(f"the service is not healthy after {timeout:g} s ({last})", code="not_ready")
            yield Wait(min(poll_interval, remaining))

    def synthesize(
        self, text: str, voice_id: str | None, fmt: str, params: SpeechParams, *, stream: bool
    ) -> Operation[httpx.Response]:
        body: dict[str, Any] = {"text": text, "parameters": _speech(params), "format": fmt, "stream": stream}
        if voice_id is not None:
            body["voice_id"] = voice_id
        return (yield from self.call("POST", "/api/v1/tts/synthesize", json=body, stream=stream))

    def synthesize_with_file(
        self, text: str, voice_file: FileSource, latent_file: FileSource | None, fmt: str, params: SpeechParams
    ) -> Operation[bytes]:
        fields = {"text": text, "format": fmt, **{key: str(value) for key, value in _speech(params).items()}}
        with ExitStack() as stack:
            files = {"voice_file": _upload(stack, voice_file)}
            if latent_file is not None:
                files["voice_latent"] = _upload(stack, latent_file)
            response = yield from self.call("POST", "/api/v1/tts/synthesize_file", data=fields, files=files)
        return response.content

    def upload_voice(
        self, voice_id: str, voice_file: FileSource, description: str, name: str | None, latent_file: FileSource | None
    ) -> Operation[dict[str, Any]]:
        fields = {"voice_id": voice_id, "description": description, **({"name": name} if name else {})}
        with ExitStack() as stack:
            files = {"voice_file": _upload(stack, voice_file)}
            if latent_file is not None:
                files["voice_latent"] = _upload(stack, latent_file)
            return (yield from self.json("POST", "/api/v1/voices/upload", data=fields, files=files))

    def list_voices(self) -> Operation[list[dict[str, Any]]]:
        return (yield from self.json("GET", "/api/v1/voices"))["voices"]

    def get_voice(self, voice_id: str) -> Operation[dict[str, Any]]:
        return (yield from self.json("GET", _voice_path(voice_id)))

    def delete_voice(self, voice_id: str) -> Operation[dict[str, Any]]:
        return (yield from self.json("DELETE", _voice_path(voice_id)))

    def wait_for_voice(
        self, voice_id: str, timeout: float, poll_interval: float, on_progress: VoiceProgress | None
    ) -> Operation[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            voice = yield from self.get_voice(voice_id)
            status = voice.get("status", VoiceStatus.READY)
            if on_progress is not None:
                on_progress(voice)
            if status == VoiceStatus.READY:
                return voice
            if status == VoiceStatus.FAILED:
                reason = voice.get("error") or voice.get("message") or "the service could not enroll it"
                raise VoiceEnrollmentError(f"voice {voice_id!r} failed: {reason}", code="voice_failed", details=voice)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MegaTTS3TimeoutError(
                    f"voice {voice_id!r} is still {status!r} after {timeout:g} s", code="voice_not_ready"
                )
            yield Wait(min(poll_interval, remaining))

    # -- long-form jobs -------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> Operation[dict[str, Any]]:
        """POST /api/v1/tts/jobs with ``body`` (text + voice_id, script, or screenplay + voices)."""
        return (yield from self.json("POST", "/api/v1/tts/jobs", json=body))

    def get_job(self, job_id: str) -> Operation[dict[str, Any]]:
        return (yield from self.json("GET", _job_path(job_id)))

    def delete_job(self, job_id: str) -> Operation[dict[str, Any]]:
        return (yield from self.json("DELETE", _job_path(job_id)))

    def wait_for_job(
        self, job_id: str, timeout: float, poll_interval: float, on_progress: JobProgress | None
    ) -> Operation[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            job = yield from self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["status"] == "done":
                return job
            if job["status"] in ("failed", "cancelled"):
                reason = job.get("error") or job["status"]
                raise JobFailedError(
                    f"job {job_id} {job['status']}: {reason}", code=f"job_{job['status']}", details=job
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MegaTTS3TimeoutError(
                    f"job {job_id} is still {job['status']} after {timeout:g} s", code="job_not_finished"
                )
            yield Wait(min(poll_interval, remaining))

    def job_result(self, job_id: str, name: str) -> Operation[httpx.Response]:
        """A finished job's ``audio``, ``timestamps``, ``subtitles.srt`` or ``subtitles.vtt``."""
        return (yield from self.call("GET", f"{_job_path(job_id)}/{name}"))


def _job_path(job_id: str) -> str:
    return "/api/v1/tts/jobs/" + quote(job_id, safe="")
