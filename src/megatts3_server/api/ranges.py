"""A file with HTTP Range requests answered as RFC 9110 (section 14) says, and errors in the service's
JSON shape.

Starlette's FileResponse serves byte ranges, but answers a Range it cannot serve in plain text, with
400 for an inverted range (``bytes=500-100``) and for a unit it does not know. Here, before it runs:

- a Range of another unit than bytes, or that is not ``unit=...`` at all, is ignored: the whole file,
  200 (section 14.2: a server MUST ignore a range unit it does not understand);
- a bytes range that is invalid (not digits, first-pos after last-pos, nothing requested) or not
  satisfiable (it starts at or after the end) is 416 with ``Content-Range: bytes */<length>`` and
  the JSON error body (``range_not_satisfiable``);
- If-Range that does not match the file: the whole file, as Starlette does;
- the ranges that can be served reach Starlette rewritten in plain numbers within the file (a suffix
  of 5,000 digits is the whole file, not a number Python declines to read).

A file deleted between the route finding it and its first byte (a delete racing a download) is 404,
not Starlette's 500.
"""

from __future__ import annotations

import os
import re

import anyio
from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from megatts3_server.api.errors import error_response

_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# More digits than any file length has: such a position is past the end (and int() need not read it).
_MAX_DIGITS = 19


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def byte_ranges(http_range: str, size: int) -> list[tuple[int, int]] | str | None:
    """The byte ranges (first, last, inclusive, within the file) a Range header asks of a file of
    ``size`` bytes; a str: why they cannot be served (416); None: the header is ignored."""
    unit, equals, specs = http_range.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    requested = [spec.strip() for spec in specs.split(",") if spec.strip()]
    if not requested:
        return "the Range header requests no byte range"
    if len(requested) > FileResponse.max_ranges:  # Starlette sends the whole file for so many
        return None
    ranges = []
    for spec in requested:
        parts = _SPEC.fullmatch(spec)
        if parts is None or not (parts[1] or parts[2]):
            return f"{spec!r} is not a byte range (first-last, first- or -suffix)"
        first, last = parts[1], parts[2]
        if first and last and _position(first) > _position(last):
            return f"the byte range {spec!r} ends before it starts"
        start = _position(first) if first else max(size - _position(last), 0)
        if start >= size or (not first and _position(last) == 0):
            return f"the byte range {spec!r} starts at or after the end of the {size}-byte file"
        ranges.append((start, min(_position(last), size - 1) if first and last else size - 1))
    return ranges


class RangeFileResponse(FileResponse):
    """Starlette's FileResponse with the Range answers of the module docstring."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.stat_result is None:
            try:
                self.stat_result = await anyio.to_thread.run_sync(os.stat, self.path)
            except FileNotFoundError:  # deleted since the route found it (Starlette: a 500)
                await error_response(404, "not_found", "the file was deleted meanwhile")(scope, receive, send)
                return
            self.set_stat_headers(self.stat_result)
        stat = self.stat_result
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        if http_range is not None and scope.get("method", "GET").upper() in ("GET", "HEAD"):
            if_range = headers.get("if-range")
            if if_range is None or self._should_use_range(if_range):
                ranges = byte_ranges(http_range, stat.st_size)
                if isinstance(ranges, str):
                    refused = error_response(416, "range_not_satisfiable", ranges)
                    refused.headers["Content-Range"] = f"bytes */{stat.st_size}"
                    await refused(scope, receive, send)
                    return
                # Starlette gets the ranges as checked here, in numbers it reads (or none: the whole file).
                headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
                if ranges:
                    spelled = ",".join(f"{first}-{last}" for first, last in ranges)
                    headers.append((b"range", f"bytes={spelled}".encode()))
                scope = {**scope, "headers": headers}
        await super().__call__(scope, receive, send)
