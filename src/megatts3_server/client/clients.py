"""The two clients: blocking ``MegaTTS3Client`` and ``AsyncMegaTTS3Client``, both on httpx.

    with MegaTTS3Client("http://localhost:9000") as client:
        audio = client.synthesize_text("你好，这是MegaTTS3语音合成测试。", "voice_001", speed=1.0)

A request refused with 429 or 503 is retried up to ``retries`` times, each after the server's
Retry-After; every other failure is raised as a MegaTTS3Error subclass carrying the server's status,
code and message. The two clients run the same operations (``operations.py``), only their I/O differs.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Unpack

import anyio
import httpx

from megatts3_server.client.errors import MegaTTS3Error, transport_errors
from megatts3_server.client.files import AudioFileWriter, ByteProgress, SavedAudio
from megatts3_server.client.operations import (
    DEFAULT_URL,
    FileSource,
    JobProgress,
    Operation,
    Operations,
    Send,
    SpeechParams,
    T,
    VoiceProgress,
    Wait,
    audio_format_for,
    http_options,
)


class _ClientBase:
    """What both clients hold: the service's URL, the operations, and an httpx client of their kind.

    ``timeout`` bounds each wait on the network in seconds (a long synthesis may take that long);
    ``retries`` bounds the retries after 429/503, each after the server's Retry-After (else a short
    back-off); a Retry-After longer than ``max_retry_wait`` is not waited for: the error is raised.
    ``transport`` replaces httpx's (an httpx.BaseTransport for the blocking client, an
    AsyncBaseTransport for the async one).
    """

    _http_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 300.0,
        retries: int = 3,
        *,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ops = Operations(retries, max_retry_wait)
        self._http = self._http_class(transport=transport, **http_options(self.base_url, api_key, timeout))


class MegaTTS3Client(_ClientBase):
    """Blocking client of one service, usable as a context manager (arguments: see _ClientBase).

    Speech parameters (``**params``) are ``speed``, ``pitch`` and ``emotion``; left out, the server's.
    """

    _http_class = httpx.Client
    _http: httpx.Client

    def _run(self, operation: Operation[T]) -> T:
        try:
            step = next(operation)
            while True:
                try:
                    response = self._do(step)
                except MegaTTS3Error as exc:  # the operation decides (most re-raise; a wait for the service retries)
                    step = operation.throw(exc)
                else:
                    step = operation.send(response)
        except StopIteration as done:
            return done.value
        finally:
            operation.close()

    def _do(self, step: Send | Wait) -> httpx.Response | None:
        if isinstance(step, Wait):
            time.sleep(step.seconds)
            return None
        with transport_errors(self.base_url):
            request = self._http.build_request(step.method, step.path, **step.options)
            response = self._http.send(request, stream=step.stream)
            if step.stream and response.is_error:
                with contextlib.closing(response):
                    response.read()
        return response

    def health_check(self) -> dict[str, Any]:
        """GET /health: status, version, model_loaded, memory, engine, queue and cache figures (its
        body also while the service answers 503: starting, failed or unavailable)."""
        return self._run(self._ops.health())

    def wait_until_healthy(self, timeout: float = 300.0, poll_interval: float = 1.0) -> dict[str, Any]:
        """Block until the service can synthesize (a gate before a batch of work); its /health body.
        MegaTTS3Error at once if its engine failed to load, MegaTTS3TimeoutError after ``timeout`` s."""
        return self._run(self._ops.wait_until_healthy(timeout, poll_interval))

    def synthesize_text(
        self, text: str, voice_id: str | None = None, *, format: str = "wav", **params: Unpack[SpeechParams]
    ) -> bytes:
        """Speak ``text`` in ``voice_id`` (None: the server's default voice); the encoded audio."""
        return self._run(self._ops.synthesize(text, voice_id, format, params, stream=False)).content

    def synthesize_with_voice_file(
        self,
        text: str,
        voice_file_path: FileSource,
        latent_file_path: FileSource | None = None,
        *,
        format: str = "wav",
        **params: Unpack[SpeechParams],
    ) -> bytes:
        """One-shot synthesis with a reference recording (and its .npy latent); the files it opens, it closes."""
        return self._run(self._ops.synthesize_with_file(text, voice_file_path, latent_file_path, format, params))

    def stream_to_file(
        self,
        text: str,
        path: str | os.PathLike[str],
        voice_id: str | None = None,
        format: str | None = None,
        *,
        on_progress: ByteProgress | None = None,
        **params: Unpack[SpeechParams],
    ) -> SavedAudio:
        """Stream the speech of ``text`` into ``path`` as the service synthesizes it, sentence by
        sentence (format: from the suffix unless given); ``on_progress`` gets the bytes written so far."""
        fmt = audio_format_for(path, format)
        response = self._run(self._ops.synthesize(text, voice_id, fmt, params, stream=True))
        with (
            contextlib.closing(response),
            AudioFileWriter(path, on_progress) as out,
            transport_errors(self.base_url),
        ):
            for chunk in response.iter_bytes():
                out.write(chunk)
        return SavedAudio.from_response(out.path, out.size, fmt, response)

    def upload_voice_sample(
        self,
        voice_id: str,
        voice_file: FileSource,
        description: str = "",
        *,
        name: str | None = None,
        latent_file: FileSource | None = None,
    ) -> dict[str, Any]:
        """Store a reference voice (a path, bytes or an open binary file); the stored voice."""
        return self._run(self._ops.upload_voice(voice_id, voice_file, description, name, latent_file))

    def list_voices(self) -> list[dict[str, Any]]:
        """Every voice, built-in and uploaded."""
        return self._run(self._ops.list_voices())

    def get_voice(self, voice_id: str) -> dict[str, Any]:
        """One voice; NotFoundError if no voice has this id."""
        return self._run(self._ops.get_voice(voice_id))

    def delete_voice(self, voice_id: str) -> dict[str, Any]:
        """Delete an uploaded voice (a built-in one answers InvalidRequestError ``voice_read_only``)."""
        return self._run(self._ops.delete_voice(voice_id))

    def wait_for_voice(
        self,
        voice_id: str,
        timeout: float = 300.0,
        poll_interval: float = 1.0,
        on_progress: VoiceProgress | None = None,
    ) -> dict[str, Any]:
        """Poll the voice until it is ``ready`` and return it; VoiceEnrollmentError if it ``failed``,
        MegaTTS3TimeoutError after ``timeout`` s. ``on_progress`` gets the voice at each poll (its
        ``status`` and, while enrolling, ``progress`` 0-100)."""
        return self._run(self._ops.wait_for_voice(voice_id, timeout, poll_interval, on_progress))

    def create_job(self, **body: Any) -> dict[str, Any]:
        """Submit a long-form job: ``text=`` + ``voice_id=``, ``script=[{voice_id, text, ...}]``, or
        ``screenplay=`` + ``voices={name: voice_id}``; plus ``format``, ``title``, ``parameters``. The job (202)."""
        return self._run(self._ops.create_job(body))

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._run(self._ops.get_job(job_id))

    def delete_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a running job, or delete a finished one."""
        return self._run(self._ops.delete_job(job_id))

    def wait_for_job(
        self, job_id: str, timeout: float = 3600.0, poll_interval: float = 1.0, on_progress: JobProgress | None = None
    ) -> dict[str, Any]:
        """Poll until the job is ``done`` and return it; JobFailedError if it failed or was cancelled,
        MegaTTS3TimeoutError after ``timeout`` s; ``on_progress`` gets the job at each poll."""
        return self._run(self._ops.wait_for_job(job_id, timeout, poll_interval, on_progress))

    def download_job(
        self, job_id: str, path: str | os.PathLike[str], *, srt: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write a finished job's track to ``path`` (and its SRT subtitles to ``srt``); the track's path."""
        target = Path(path)
        target.write_bytes(self._run(self._ops.job_result(job_id, "audio")).content)
        if srt is not None:
            Path(srt).write_text(self._run(self._ops.job_result(job_id, "subtitles.srt")).text, encoding="utf-8")
        return target

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MegaTTS3Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMegaTTS3Client(_ClientBase):
    """The async twin of MegaTTS3Client: the same arguments, methods, retries and errors, awaited."""

    _http_class = httpx.AsyncClient
    _http: httpx.AsyncClient

    async def _run(self, operation: Operation[T]) -> T:
        try:
            step = next(operation)
            while True:
                try:
                    response = await self._do(step)
                except MegaTTS3Error as exc:
                    step = operation.throw(exc)
                else:
                    step = operation.send(response)
        except StopIteration as done:
            return done.value
        finally:
            operation.close()

    async def _do(self, step: Send | Wait) -> httpx.Response | None:
        if isinstance(step, Wait):
            await anyio.sleep(step.seconds)
            return None
        with transport_errors(self.base_url):
            request = self._http.build_request(step.method, step.path, **step.options)
            response = await self._http.send(request, stream=step.stream)
            if step.stream and response.is_error:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        return response

    async def health_check(self) -> dict[str, Any]:
        return await self._run(self._ops.health())

    async def wait_until_healthy(self, timeout: float = 300.0, poll_interval: float = 1.0) -> dict[str, Any]:
        return await self._run(self._ops.wait_until_healthy(timeout, poll_interval))

    async def synthesize_text(
        self, text: str, voice_id: str | None = None, *, format: str = "wav", **params: Unpack[SpeechParams]
    ) -> bytes:
        return (await self._run(self._ops.synthesize(text, voice_id, format, params, stream=False))).content

    async def synthesize_with_voice_file(
        self,
        text: str,
        voice_file_path: FileSource,
        latent_file_path: FileSource | None = None,
        *,
        format: str = "wav",
        **params: Unpack[SpeechParams],
    ) -> bytes:
        return await self._run(self._ops.synthesize_with_file(text, voice_file_path, latent_file_path, format, params))

    async def stream_to_file(
        self,
        text: str,
        path: str | os.PathLike[str],
        voice_id: str | None = None,
        format: str | None = None,
        *,
        on_progress: ByteProgress | None = None,
        **params: Unpack[SpeechParams],
    ) -> SavedAudio:
        fmt = audio_format_for(path, format)
        response = await self._run(self._ops.synthesize(text, voice_id, fmt, params, stream=True))
        try:
            with AudioFileWriter(path, on_progress) as out, transport_errors(self.base_url):
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        finally:
            await response.aclose()
        return SavedAudio.from_response(out.path, out.size, fmt, response)

    async def upload_voice_sample(
        self,
        voice_id: str,
        voice_file: FileSource,
        description: str = "",
        *,
        name: str | None = None,
        latent_file: FileSource | None = None,
    ) -> dict[str, Any]:
        return await self._run(self._ops.upload_voice(voice_id, voice_file, description, name, latent_file))

    async def list_voices(self) -> list[dict[str, Any]]:
        return await self._run(self._ops.list_voices())

    async def get_voice(self, voice_id: str) -> dict[str, Any]:
        return await self._run(self._ops.get_voice(voice_id))

    async def delete_voice(self, voice_id: str) -> dict[str, Any]:
        return await self._run(self._ops.delete_voice(voice_id))

    async def wait_for_voice(
        self,
        voice_id: str,
        timeout: float = 300.0,
        poll_interval: float = 1.0,
        on_progress: VoiceProgress | None = None,
    ) -> dict[str, Any]:
        return await self._run(self._ops.wait_for_voice(voice_id, timeout, poll_interval, on_progress))

    async def create_job(self, **body: Any) -> dict[str, Any]:
        return await self._run(self._ops.create_job(body))

    async def get_job(self, job_id: str) -> dict[str, Any]:
        return await self._run(self._ops.get_job(job_id))

    async def delete_job(self, job_id: str) -> dict[str, Any]:
        return await self._run(self._ops.delete_job(job_id))

    async def wait_for_job(
        self, job_id: str, timeout: float = 3600.0, poll_interval: float = 1.0, on_progress: JobProgress | None = None
    ) -> dict[str, Any]:
        return await self._run(self._ops.wait_for_job(job_id, timeout, poll_interval, on_progress))

    async def download_job(
        self, job_id: str, path: str | os.PathLike[str], *, srt: str | os.PathLike[str] | None = None
    ) -> Path:
        target = Path(path)
        audio = (await self._run(self._ops.job_result(job_id, "audio"))).content
        await anyio.Path(target).write_bytes(audio)
        if srt is not None:
            text = (await self._run(self._ops.job_result(job_id, "subtitles.srt"))).text
            await anyio.Path(srt).write_text(text, encoding="utf-8")
        return target

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMegaTTS3Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
