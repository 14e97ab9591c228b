"""ASGI middleware: request ids (echoed, logged, counted), the request body size limit, HEAD for
every GET route, and the JSON 500 for a bug that keeps the client's connection open."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from megatts3_server.api.errors import error_response, unexpected_error_response
from megatts3_server.errors import StreamAbortedError
from megatts3_server.logs import reset_request_id, set_request_id
from megatts3_server.metrics import Metrics

log = logging.getLogger(__name__)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestIdMiddleware:
    """Give every request an id (the client's X-Request-ID when it is sane), put it in the logging
    context and the response headers, and count the request by route and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = offered if offered and _CLIENT_ID.match(offered) else uuid.uuid4().hex
        token = set_request_id(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self._metrics.requests.labels(route=path, status=str(status)).inc()
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length before reading, and by counting
    for chunked uploads, so an oversize body is never held in memory. A body that is not a multipart
    upload (JSON) has the lower bound ``max_json_bytes``: it is parsed whole, on the event loop, before
    any check of its fields (10 MB of JSON were 3 s of stall for every client)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_bytes: int | None = None) -> None:
        self._app = app
        self._max = max_bytes
        self._max_json = min(max_bytes, max_json_bytes or max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        multipart = (_header(scope, b"content-type") or "").lower().startswith("multipart/")
        limit = self._max if multipart else self._max_json
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    # Reading stops here; the app sees a disconnect and gives up on the body.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if not started:
                    started = True
                    await self._refuse(scope, receive, send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self._app(scope, counting_receive, guarded_send)
        if exceeded and not started:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        if limit == self._max:
            message = f"the request body is larger than {limit} bytes (api.max_request_size)"
        else:
            message = (
                f"the request body is larger than {limit} bytes (api.max_json_size); uploads sent as "
                f"multipart/form-data may be up to {self._max} bytes (api.max_request_size)"
            )
        await error_response(413, "payload_too_large", message)(scope, receive, send)


class UnexpectedErrorMiddleware:
    """Answer an exception no handler knows with the JSON 500, and keep the connection.

    Starlette's own last-resort handler re-raises after answering, which makes the server close the
    keep-alive connection, so a client's next request fails as well. Here the error is logged,
    counted and answered; a response already under way is aborted (re-raised), since its status and
    part of its body have been sent. A StreamAbortedError (already logged and counted) ends its
    response unfinished: the server closes the connection without the body's last chunk.

    A request the server's stop cancels (uvicorn cancels what is left after api.shutdown_grace_seconds)
    is answered 503 ``server_stopping`` if nothing was sent yet, and logged in one line rather than
    with uvicorn's traceback.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, stopping: Callable[[], bool] = lambda: False) -> None:
        self._app = app
        self._metrics = metrics
        self._stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not self._stopping():
                raise
            log.warning(
                "%s %s cancelled: the server stopped before it finished (api.shutdown_grace_seconds)%s",
                scope["method"],
                scope["path"],
                "" if started else "; answered 503",
            )
            if not started:
                message = "the server is stopping; retry on another replica or after its restart"
                await error_response(503, "server_stopping", message, retry_after=5)(scope, receive, send)
        except Exception as exc:
            if started and _aborted_stream(exc):
                return  # ends the response unfinished: the server drops the connection, the client sees a cut body
            if started:
                raise
            self._metrics.errors.labels(code="internal_error").inc()
            await unexpected_error_response(scope["method"], scope["path"])(scope, receive, send)


def _aborted_stream(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a StreamAbortedError, however Starlette wrapped it: its handler lookup
    re-raises a handled error after the response started as "Caught handled exception, but response
    already started" (a RuntimeError caused by it), and its stream task group as an exception group."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StreamAbortedError):
            return True
        if isinstance(exc, BaseExceptionGroup):
            return any(_aborted_stream(inner) for inner in exc.exceptions)
        exc = exc.__cause__ or exc.__context__
    return False


class HeadAsGetMiddleware:
    """HEAD on any GET route: the GET's status and headers without its body (RFC 9110 9.3.2), so
    monitors that probe with HEAD see what GET would say."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self._app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self._app({**scope, "method": "GET"}, receive, headers_only)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with a refused preflight answered in the service's JSON error shape
    (Starlette answers it in plain text)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace").strip() or "refused"
        refused = error_response(response.status_code, "cors_rejected", f"CORS preflight refused: {reason}")
        for name in ("vary", "access-control-allow-methods", "access-control-max-age", "access-control-allow-headers"):
            if name in response.headers:
                refused.headers[name] = response.headers[name]
        return refused
