"""The I/O-free half of the Python client (``megatts3_server.client``): errors, request shapes, retries.

Each operation of the service is written once, as a generator that yields the steps it needs (send
this request, wait this long) and receives each response back. ``MegaTTS3Client`` runs those steps
with httpx.Client and time.sleep, ``AsyncMegaTTS3Client`` with httpx.AsyncClient and anyio.sleep, so
the two cannot drift apart in what they send, retry or raise.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypedDict, TypeVar
from urllib.parse import quote

import httpx

from megatts3_server import __version__

log = logging.getLogger("megatts3_server.client")

DEFAULT_URL = "http://localhost:9000"
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "opus", "aac", "pcm")
_RETRY_STATUSES = frozenset({429, 503})

FileSource = str | os.PathLike[str] | bytes | BinaryIO
VoiceProgress = Callable[[dict[str, Any]], None]
ByteProgress = Callable[[int], None]


class SpeechParams(TypedDict, total=False):
    """How to speak; what is left out takes the server's default."""

    speed: float  # 0.5-2, 1.0 = the voice as is
    pitch: float  # 0.5-2, duration kept
    emotion: str  # rendered if the engine can, else spoken neutrally (X-Emotion-Warning)


class MegaTTS3Error(Exception):
    """An error answered by the service (``status``, and ``code``/``message`` of its JSON body), or met
    on the way to it (``status`` None)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        retry_after: float | None = None,
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id
        self.details = details

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}" if self.status else f"{self.code}: {self.message}"


class InvalidRequestError(MegaTTS3Error):
    """The service refused the request as given (a 4xx without a more specific class below)."""


class AuthenticationError(MegaTTS3Error):
    """401: a valid API key is required."""


class NotFoundError(MegaTTS3Error):
    """404: no such voice (or route)."""


class RateLimitedError(MegaTTS3Error):
    """429, still refused after the client's retries."""


class ServiceUnavailableError(MegaTTS3Error):
    """503 (queue full, engine still loading), still refused after the client's retries."""


class ServerError(MegaTTS3Error):
    """Any other 5xx, e.g. 504 synthesis_timeout."""


class MegaTTS3ConnectionError(MegaTTS3Error):
    """The service could not be reached, or the connection broke."""


class MegaTTS3TimeoutError(MegaTTS3Error):
    """No answer within the client's timeout, or a voice not ready within wait_for_voice's."""


class VoiceEnrollmentError(MegaTTS3Error):
    """The service reports the voice as ``failed``."""


_ERROR_TYPES: dict[int, type[MegaTTS3Error]] = {
    401: AuthenticationError,
    404: NotFoundError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> MegaTTS3Error:
    """The typed error for an error response, with the server's ``{"error": {"code", "message"}}``."""
    status = response.status_code
    try:
        body = response.json()["error"]
        code, message, details = str(body["code"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):  # not the service's JSON: a proxy's error page, say
        code, message, details = f"http_{status}", response.text.strip()[:500] or response.reason_phrase, None
    kind = _ERROR_TYPES.get(status) or (InvalidRequestError if status < 500 else ServerError)
    return kind(
        message,
        status=status,
        code=code,
        retry_after=_retry_after(response),
        request_id=response.headers.get("X-Request-ID"),
        details=details,
    )


@contextlib.contextmanager
def transport_errors(base_url: str) -> Iterator[None]:
    """httpx's network errors as MegaTTS3ConnectionError / MegaTTS3TimeoutError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise MegaTTS3TimeoutError(f"no answer from {base_url} in time ({exc!r})", code="timeout") from exc
    except httpx.TransportError as exc:
        raise MegaTTS3ConnectionError(f"cannot reach {base_url}: {exc}", code="connection_error") from exc


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
class SavedAudio:
    """What stream_to_file wrote, with what the service said about it."""

    path: Path
    size: int
    format: str
    voice_id: str | None
    voice_used: str | None
    sample_rate: int | None

    @classmethod
    def from_response(cls, path: Path, size: int, fmt: str, response: httpx.Response) -> SavedAudio:
        rate = response.headers.get("X-Sample-Rate")
        return cls(
            path=path,
            size=size,
            format=fmt,
            voice_id=response.headers.get("X-Voice-Id"),
            voice_used=response.headers.get("X-Voice-Used"),
            sample_rate=int(rate) if rate else None,
        )


class AudioFileWriter:
    """Writes chunks to ``<path>.part`` as they arrive and renames it to ``path`` once complete, so a
    broken stream never leaves a truncated file under the name asked for. ``on_progress`` gets the
    bytes written so far after each chunk."""

    def __init__(self, path: str | os.PathLike[str], on_progress: ByteProgress | None = None) -> None:
        self.path = Path(path)
        self._part = self.path.with_name(self.path.name + ".part")
        self._on_progress = on_progress
        self.size = 0

    def __enter__(self) -> AudioFileWriter:
        self._file = self._part.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self.size += len(chunk)
        if self._on_progress is not None:
            self._on_progress(self.size)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._file.close()
        if exc_type is None:
            self._part.replace(self.path)
        else:
            self._part.unlink(missing_ok=True)


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
            status = voice.get("status", "ready")
            if on_progress is not None:
                on_progress(voice)
            if status == "ready":
                return voice
            if status == "failed":
                reason = voice.get("error") or voice.get("message") or "the service could not enroll it"
                raise VoiceEnrollmentError(f"voice {voice_id!r} failed: {reason}", code="voice_failed", details=voice)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MegaTTS3TimeoutError(
                    f"voice {voice_id!r} is still {status!r} after {timeout:g} s", code="voice_not_ready"
                )
            yield Wait(min(poll_interval, remaining))
