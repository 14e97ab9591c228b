"""Work nobody waits for is stopped: when a client leaves before its answer, and when the server stops.

A streamed response is cancelled by Starlette when its client disconnects (its sender listens for
``http.disconnect``); a route that answers once would only notice when it sends, after all its work
(a 700-character text abandoned after 3 s ran for 291 s). The synthesis routes are therefore of class
``CancelOnDisconnectRoute``: once the handler has read the request body, a watch on the connection
runs beside it, and a disconnect cancels the handler, and with it the request's engine work (the
scheduler drops its pieces not yet started: service/synthesis.py). The request is counted as 499.

On a stop, uvicorn waits ``api.shutdown_grace_seconds`` for the requests in flight, then cancels
them: middleware.UnexpectedErrorMiddleware answers such a request 503 ``server_stopping``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

log = logging.getLogger(__name__)

# What a request whose client left is counted as (nginx's "client closed request").
CLIENT_GONE = 499


class _Watch:
    """The request's receive channel, which starts watching for a disconnect once the body is read."""

    def __init__(self, receive: Receive, group: anyio.abc.TaskGroup) -> None:
        self._receive = receive
        self._group = group
        self._watching = False
        self._gone = anyio.Event()
        self.client_left = False

    async def receive(self) -> Message:
        if self._watching:  # the watch owns the channel now: it says when the client is gone
            await self._gone.wait()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self._watching = True
            self._group.start_soon(self._watch)
        return message

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.client_left = True
        self._gone.set()
        self._group.cancel_scope.cancel()


class CancelOnDisconnectRoute(APIRoute):
    """A route whose handler is cancelled when its client disconnects (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def cancellable(request: Request) -> Response:
            response: Response | None = None
            failure: Exception | None = None
            async with anyio.create_task_group() as group:
                watch = _Watch(request.receive, group)
                try:
                    response = await handler(Request(request.scope, watch.receive))
                except Exception as exc:  # raised outside the group, as it is (the error handlers know its type)
                    failure = exc
                group.cancel_scope.cancel()
            if failure is not None:
                raise failure
            if response is None:
                log.info("%s %s: the client left; its work is cancelled", request.method, request.url.path)
                return Response(status_code=CLIENT_GONE)
            return response

        return cancellable
