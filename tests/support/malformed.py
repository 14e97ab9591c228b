"""Malformed requests for the fuzz suite (tests/fuzz): how to build them, how to send them, and what
every answer must be.

The contract every response is held to (docs/api.md "Errors"):

* the status is below 500: a malformed request is the client's fault, never the server's;
* a status of 400 or more carries ``{"error": {"code": <snake_case str>, "message": <non-empty str>}}``
  (``details`` optional, nothing else), served as JSON;
* an answer comes at all: no hang past the client's timeout, no connection dropped without a response.

Everything sent goes to 127.0.0.1 (the fuzz servers listen on loopback only). Each request sent
through a :class:`Fuzzer` is one counted case in :data:`TALLY`, which tests/fuzz/test_zz_totals.py
checks and the terminal summary reports.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from hypothesis import HealthCheck, settings

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
LOOPBACK = "127.0.0.1"

# A bound on an answer, not a speed test: a short synthesis takes seconds on a loaded 2-core machine.
DEFAULT_TIMEOUT = float(os.environ.get("MEGATTS3_FUZZ_TIMEOUT", "60"))


# Property-based fuzzing as every fuzz module runs it: reproducible (derandomized, no example
# database), no deadline (a real server answers), and no health check (generation is not the test).
FUZZ_SETTINGS = settings(
    deadline=None, derandomize=True, database=None, print_blob=False, suppress_health_check=list(HealthCheck)
)


def slow_timeout(api_timeout: float) -> float:
    """Client timeout for texts that may legitimately run up to the server's api.timeout (marked
    ``fuzz_slow``): MEGATTS3_FUZZ_SLOW_TIMEOUT, else well above api.timeout."""
    return float(os.environ.get("MEGATTS3_FUZZ_SLOW_TIMEOUT", api_timeout + 60))


# ---------------------------------------------------------------------------------------------------
# Counting


@dataclass
class Tally:
    """Every case sent in this session: by status, by route, by module."""

    statuses: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    modules: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    failed_cases: list[dict[str, str]] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def record(
        self,
        module: str,
        route: str,
        status: int | None,
        problems: list[str],
        described: str,
        elapsed: float | None = None,
    ) -> None:
        self.statuses[str(status) if status is not None else "no answer"] += 1
        if elapsed is not None:
            self.slowest = sorted([*self.slowest, (elapsed, described.split("\n")[0][:160])], reverse=True)[:5]
        self.routes[route] += 1
        self.modules[module] += 1
        if problems:
            self.failures[route] += 1
            self.failed_cases.append(
                {"module": module, "route": route, "problems": "; ".join(problems), "case": described}
            )

    def dump(self, path: str) -> None:
        """Write the failed cases as JSON lines (MEGATTS3_FUZZ_FAILURES names the file)."""
        with open(path, "w", encoding="utf-8") as out:
            for case in self.failed_cases:
                out.write(json.dumps(case, ensure_ascii=False) + "\n")

    def report(self) -> str:
        lines = [f"fuzz cases: {self.total} ({sum(self.failures.values())} failed)"]
        lines.append("  by status: " + ", ".join(f"{key}: {n}" for key, n in sorted(self.statuses.items())))
        lines.append("  by module: " + ", ".join(f"{key}: {n}" for key, n in sorted(self.modules.items())))
        lines += [f"  {route}: {n} cases, {self.failures[route]} failed" for route, n in sorted(self.routes.items())]
        lines += ["  slowest answers:"] + [f"    {seconds:6.2f} s  {case}" for seconds, case in self.slowest]
        return "\n".join(lines)


TALLY = Tally()


# ---------------------------------------------------------------------------------------------------
# What an answer must be


@dataclass
class Answer:
    """One request and what came back (``status`` None: no HTTP answer; ``note`` says why)."""

    request: str
    status: int | None
    headers: dict[str, str]
    body: bytes
    elapsed: float
    note: str = ""
    head: bool = False

    def excerpt(self, size: int = 300) -> str:
        return compact(self.body, size)

    def describe(self) -> str:
        got = f"{self.status}" if self.status is not None else f"no answer ({self.note})"
        return f"{self.request}\n    -> {got} after {self.elapsed:.2f} s: {self.excerpt()}"


def error_body_problems(body: bytes, content_type: str) -> list[str]:
    """Why ``body`` is not the documented error body (empty list: it is)."""
    problems = []
    if "json" not in content_type.lower():
        problems.append(f"error served as {content_type or 'no content type'!r}, not JSON")
    try:
        document = json.loads(body)
    except ValueError:
        return [*problems, "error body is not JSON"]
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return [*problems, 'error body has no {"error": {...}} object']
    if set(document) != {"error"}:
        problems.append(f"error body has keys besides 'error': {sorted(set(document) - {'error'})}")
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not SNAKE_CASE.fullmatch(code):
        problems.append(f"error.code {code!r} is not a snake_case string")
    if not isinstance(message, str) or not message.strip():
        problems.append(f"error.message {message!r} is not a non-empty string")
    if set(error) - {"code", "message", "details"}:
        problems.append(f"error has unexpected keys {sorted(set(error) - {'code', 'message', 'details'})}")
    return problems


def answer_problems(answer: Answer) -> list[str]:
    """Why ``answer`` breaks the contract (empty list: it keeps it)."""
    if answer.status is None:
        return [f"no HTTP answer: {answer.note}"]
    problems = []
    if answer.status >= 500:
        problems.append(f"status {answer.status} (a server error for a client's malformed request)")
    if answer.status >= 400 and not answer.head and not _parser_refusal(answer.status, answer.headers):
        problems += error_body_problems(answer.body, answer.headers.get("content-type", ""))
    return problems


def _parser_refusal(status: int, headers: dict[str, str]) -> bool:
    """Refused by the HTTP parser (uvicorn's own plain-text 400 for framing it cannot read): the
    request never reached the service, whose every answer carries X-Request-ID."""
    return status in PARSER_STATUSES and "x-request-id" not in headers


PARSER_STATUSES = (400, 413, 414, 431)


# What httpx sends on its own: left out of reproducers.
_CLIENT_HEADERS = {"accept", "accept-encoding", "connection", "content-length", "host", "user-agent"}


def render_request(method: str, path: str, headers: dict[str, str] | None, body: bytes | None) -> str:
    """A readable reproducer: method, path, the headers that matter and the body (or its size)."""
    shown = {k: v for k, v in (headers or {}).items() if k.lower() not in _CLIENT_HEADERS}
    line = f"{method} {path}"
    if shown:
        line += " " + " ".join(f"[{k}: {v[:120]}]" for k, v in shown.items())
    if body:
        line += f" body={compact(body)}"
    return line


_RUN = re.compile(r"(.{1,4}?)\1{7,}", re.S)


def compact(data: bytes, limit: int = 600) -> str:
    """``data`` for a reader: runs written as (piece)×count, then cut at ``limit`` characters."""
    shown = _RUN.sub(lambda m: f"«{m[1]}»×{len(m[0]) // len(m[1])}", repr(data))
    return shown if len(shown) <= limit else shown[:limit] + f"… ({len(data)} bytes)"


# ---------------------------------------------------------------------------------------------------
# Sending


class Fuzzer:
    """Sends cases to one running server, counts them and checks each answer.

    ``known_voice``: the id of an uploaded voice that no refused request may change (see
    :meth:`snapshot`)."""

    def __init__(
        self,
        base_url: str,
        *,
        module: str,
        headers: dict[str, str] | None = None,
        known_voice: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        server: Any = None,
        api_timeout: float = 120.0,
    ) -> None:
        self.base_url = base_url
        self.server = server
        """The ServerProcess answering (tests check it is still running at the end)."""
        self.api_timeout = api_timeout
        """The server's api.timeout."""
        self.module = module
        self.known_voice = known_voice
        self.timeout = timeout
        self.client = httpx.Client(base_url=base_url, timeout=timeout, headers=headers)
        host, _, port = httpx.URL(base_url).netloc.decode().partition(":")
        assert host == LOOPBACK, "the fuzz suite only ever talks to loopback"
        self.port = int(port)

    def close(self) -> None:
        self.client.close()

    # -- HTTP through httpx ---------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        route: str | None = None,
        label: str = "",
        timeout: float | None = None,
        headers_only: bool = False,
        count: bool = True,
        **kwargs: Any,
    ) -> Answer:
        """One request (httpx keyword arguments: json, content, data, files, headers, params).
        ``headers_only``: read a successful answer's status and headers, then close the connection
        (a stream: the server cancels what it has not sent); an error's body is read in full."""
        request = self.client.build_request(method, path, timeout=timeout or self.timeout, **kwargs)
        body = request.read()
        described = (label + ": " if label else "") + render_request(
            method, str(request.url.raw_path.decode("ascii", "replace")), dict(request.headers), body
        )
        started = time.perf_counter()
        status, headers, content, note = self._exchange(request, headers_only, timeout or self.timeout)
        if status is None and note.startswith("connection dropped"):
            # A keep-alive connection the server closed after its previous answer (after a 500,
            # Starlette's last-resort handler makes uvicorn close it): that request's fault, not this
            # one's. Once more on a new connection; a second drop is this request's own.
            status, headers, content, note = self._exchange(request, headers_only, timeout or self.timeout)
            note += " (also on a fresh connection)" if status is None else ""
        answer = Answer(described, status, headers, content, time.perf_counter() - started, note, method == "HEAD")
        if count:
            route = route or f"{method} {path}"
            TALLY.record(self.module, route, status, answer_problems(answer), answer.describe(), answer.elapsed)
        return answer

    def _exchange(
        self, request: httpx.Request, headers_only: bool, timeout: float
    ) -> tuple[int | None, dict[str, str], bytes, str]:
        status: int | None = None
        headers: dict[str, str] = {}
        try:
            response = self.client.send(request, stream=True)
            try:
                status, headers = response.status_code, {k.lower(): v for k, v in response.headers.items()}
                content = b"" if headers_only and status < 400 else response.read()
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            return None, {}, b"", f"no answer within {timeout:g} s ({type(exc).__name__}): a hang"
        except httpx.TransportError as exc:
            if status is not None:
                return None, headers, b"", f"status {status} sent, then the connection broke: {type(exc).__name__}"
            return None, {}, b"", f"connection dropped without an answer: {type(exc).__name__}: {exc}"
        return status, headers, content, ""

    def post_json(self, path: str, body: Any, **kwargs: Any) -> Answer:
        return self.send("POST", path, route=kwargs.pop("route", f"POST {path}"), json=body, **kwargs)

    def post_raw(
        self, path: str, content: bytes, content_type: str | None = "application/json", **kwargs: Any
    ) -> Answer:
        headers = dict(kwargs.pop("headers", None) or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.send(
            "POST", path, route=kwargs.pop("route", f"POST {path}"), content=content, headers=headers, **kwargs
        )

    def post_multipart(self, path: str, parts: list[Part], **kwargs: Any) -> Answer:
        body, content_type = multipart(parts)
        return self.post_raw(path, body, content_type, **kwargs)

    # -- raw sockets ----------------------------------------------------------------------------

    def raw(
        self,
        data: bytes | Iterable[bytes],
        *,
        route: str = "raw HTTP",
        label: str = "",
        port: int | None = None,
        timeout: float = 20.0,
        responses: int = 1,
        may_wait: bool = False,
        status_only: bool = False,
    ) -> list[RawAnswer]:
        """Send bytes as they are to the server's port; read up to ``responses`` answers.
        ``may_wait``: the request is incomplete (a body shorter than declared), so a server that
        waits for the rest until ``timeout`` is right, not hung. ``status_only``: a listener that is
        not the API (the metrics port), held to "never 5xx, never a hang" only."""
        answers = raw_exchange(LOOPBACK, port or self.port, data, timeout=timeout, responses=responses, label=label)
        for answer in answers:
            if may_wait and answer.timed_out and answer.status is None:
                answer.timed_out = False
                answer.note = (answer.note + f" (still waiting for the declared body after {timeout:g} s)").strip()
            answer.status_only = status_only
            TALLY.record(self.module, route, answer.status, raw_problems(answer), answer.describe())
        return answers

    # -- the voice store -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the API says the voice store holds: the list, and the known voice as shown alone."""
        listing = self.client.get("/api/v1/voices")
        assert listing.status_code == 200, f"GET /api/v1/voices -> {listing.status_code}: {listing.text[:300]}"
        voices = sorted(listing.json()["voices"], key=lambda voice: voice["id"])
        state: dict[str, Any] = {"voices": voices}
        if self.known_voice is not None:
            shown = self.client.get(f"/api/v1/voices/{self.known_voice}")
            assert shown.status_code == 200, f"GET the known voice -> {shown.status_code}: {shown.text[:300]}"
            state["known"] = shown.json()
        return state

    def healthy(self) -> bool:
        try:
            return self.client.get("/health", timeout=30).status_code == 200
        except httpx.HTTPError:
            return False


def expect_sane(answer: Answer) -> None:
    """Assert that ``answer`` keeps the contract."""
    problems = answer_problems(answer)
    assert not problems, "; ".join(problems) + "\n  " + answer.describe()


def collect(answer: Answer, failures: list[str]) -> None:
    """Add ``answer`` to ``failures`` when it breaks the contract (hypothesis runs: report them all)."""
    problems = answer_problems(answer)
    if problems:
        failures.append("; ".join(problems) + "\n  " + answer.describe())


def assert_none_failed(failures: list[str], sent: int) -> None:
    shown = "\n".join(failures[:25])
    more = f"\n… and {len(failures) - 25} more" if len(failures) > 25 else ""
    assert not failures, f"{len(failures)} of {sent} cases broke the contract:\n{shown}{more}"


@contextmanager
def store_unchanged(fuzz: Fuzzer) -> Iterator[None]:
    """The voice store (as the API reports it) is the same after the block as before it."""
    before = fuzz.snapshot()
    yield
    after = fuzz.snapshot()
    assert after == before, f"the voice store changed:\nbefore {before}\nafter  {after}"


# ---------------------------------------------------------------------------------------------------
# Raw HTTP over a socket (for framing no HTTP client will send)


@dataclass
class RawAnswer:
    request: str
    status: int | None
    headers: dict[str, str]
    body: bytes
    closed: bool
    """The server closed the connection (with or without an answer)."""
    timed_out: bool
    note: str = ""
    head: bool = False
    status_only: bool = False

    @property
    def from_app(self) -> bool:
        """Answered by the service itself (its middleware adds X-Request-ID), not by the HTTP parser."""
        return "x-request-id" in self.headers

    def describe(self) -> str:
        if self.status is not None:
            got = str(self.status)
        elif self.timed_out:
            got = "no answer and the connection left open"
        else:
            got = "connection closed without an answer"
        return f"{self.request}\n    -> {got}: {compact(self.body, 300)} {self.note}"


def raw_problems(answer: RawAnswer) -> list[str]:
    """A framing error may be answered by the HTTP parser (a plain 400, then close) or by closing the
    connection; what the service itself answers keeps the JSON contract. Never 5xx, never a hang."""
    if answer.status is None:
        return ["no answer and the connection was left open: a hang"] if answer.timed_out else []
    problems = []
    if answer.status >= 500:
        problems.append(f"status {answer.status}")
    if answer.status >= 400 and not (
        _parser_refusal(answer.status, answer.headers) or answer.head or answer.status_only
    ):
        problems += error_body_problems(answer.body, answer.headers.get("content-type", ""))
    return problems


def expect_raw_sane(answers: list[RawAnswer]) -> None:
    problems = [f"{'; '.join(p)}\n  {a.describe()}" for a in answers if (p := raw_problems(a))]
    assert not problems, "\n".join(problems)


def raw_exchange(
    host: str, port: int, data: bytes | Iterable[bytes], *, timeout: float, responses: int = 1, label: str = ""
) -> list[RawAnswer]:
    """Write ``data`` (pieces are written one by one, from a thread, so that an early answer is read
    while a large body is still being sent), then read up to ``responses`` HTTP responses."""
    assert host == LOOPBACK
    pieces = [data] if isinstance(data, bytes) else data
    first = data if isinstance(data, bytes) else b"<streamed pieces>"
    described = (label + ": " if label else "") + compact(first)
    sock = socket.create_connection((host, port), timeout=timeout)
    send_error: list[str] = []

    def writer() -> None:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except OSError as exc:  # the server may answer and close before it has read everything
            send_error.append(f"(sending stopped: {type(exc).__name__})")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    reader = _RawReader(sock, time.monotonic() + timeout, head=first.startswith(b"HEAD "))
    answers: list[RawAnswer] = []
    try:
        for _ in range(responses):
            answer = reader.response(described)
            answers.append(answer)
            if answer.status is None or answer.closed:
                break
    finally:
        sock.close()
        thread.join(timeout=5)
    if send_error and answers:
        answers[-1].note = (answers[-1].note + " " + send_error[0]).strip()
    return answers


class _RawReader:
    def __init__(self, sock: socket.socket, deadline: float, *, head: bool) -> None:
        self._sock = sock
        self._head = head
        self._deadline = deadline
        self._buffer = b""
        self.closed = False

    def _fill(self) -> bool:
        """Read more; False when the peer closed or the deadline passed."""
        if self.closed:
            return False
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self._buffer += chunk
        return True

    def _timed_out(self) -> bool:
        return not self.closed

    def response(self, described: str) -> RawAnswer:
        """The next final response (interim 1xx answers such as 100 Continue are skipped)."""
        while True:
            answer = self._response(described)
            if answer.status is None or not 100 <= answer.status < 200 or answer.status == 101:
                return answer

    def _response(self, described: str) -> RawAnswer:
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                return RawAnswer(described, None, {}, self._buffer, self.closed, self._timed_out())
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        match = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
        if not match:
            return RawAnswer(described, None, {}, head, self.closed, False, note=f"not HTTP: {lines[0]!r}")
        status = int(match[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._body(headers, status)
        return RawAnswer(described, status, headers, body, self.closed, False, head=self._head)

    def _body(self, headers: dict[str, str], status: int) -> bytes:
        if status in (204, 304) or 100 <= status < 200 or self._head:
            return b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self._buffer:
                    if not self._fill():
                        return body
                size_line, _, self._buffer = self._buffer.partition(b"\r\n")
                size = int(size_line.split(b";")[0] or b"0", 16)
                while len(self._buffer) < size + 2:
                    if not self._fill():
                        return body + self._buffer
                body, self._buffer = body + self._buffer[:size], self._buffer[size + 2 :]
                if size == 0:
                    return body
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(self._buffer) < length:
                if not self._fill():
                    break
            body, self._buffer = self._buffer[:length], self._buffer[length:]
            return body
        while self._fill():
            pass
        body, self._buffer = self._buffer, b""
        return body


def http_request(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    version: str = "HTTP/1.1",
    host: str = "127.0.0.1",
    content_length: bool = True,
) -> bytes:
    """A well-formed request's bytes (``headers`` as given, in order; Content-Length added for a body)."""
    lines = [f"{method} {target} {version}", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if body and content_length and not any(name.lower() == "content-length" for name, _ in headers or []):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int = 1 << 16) -> bytes:
    """``body`` in Transfer-Encoding: chunked framing."""
    out = bytearray()
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out) + b"0\r\n\r\n"


# ---------------------------------------------------------------------------------------------------
# Multipart bodies built by hand (any bytes in any part, even what no client library would send)


@dataclass
class Part:
    """A multipart part. ``value``/``name``/``filename``: str (UTF-8, lone surrogates kept) or raw
    bytes. ``raw_headers`` replaces the generated part headers entirely."""

    name: str | bytes | None
    value: str | bytes = b""
    filename: str | bytes | None = None
    content_type: str | None = None
    raw_headers: bytes | None = None


def to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


BOUNDARY = "fuzz-boundary-7b2e1c"


def multipart(parts: list[Part], boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/form-data request holding ``parts``."""
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if part.raw_headers is not None:
            out += part.raw_headers
        else:
            disposition = b"Content-Disposition: form-data"
            if part.name is not None:
                disposition += b'; name="' + to_bytes(part.name) + b'"'
            if part.filename is not None:
                disposition += b'; filename="' + to_bytes(part.filename) + b'"'
            out += disposition + b"\r\n"
            if part.content_type is not None:
                out += b"Content-Type: " + part.content_type.encode("latin-1") + b"\r\n"
        out += b"\r\n" + to_bytes(part.value) + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def fields(values: dict[str, str | bytes], files: dict[str, tuple[str, bytes]] | None = None) -> list[Part]:
    """Parts for form fields and files ({field: (filename, content)})."""
    parts = [Part(name, value) for name, value in values.items()]
    parts += [
        Part(name, content, filename=filename, content_type="application/octet-stream")
        for name, (filename, content) in (files or {}).items()
    ]
    return parts


# ---------------------------------------------------------------------------------------------------
# Audio: WAV files with any header


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def wav(
    data: bytes,
    *,
    tag: int = 1,
    channels: int = 1,
    rate: int = 16_000,
    bits: int = 16,
    byte_rate: int | None = None,
    block_align: int | None = None,
    fmt_extra: bytes = b"",
    fmt_size: int | None = None,
    data_size: int | None = None,
    riff_size: int | None = None,
    riff: bytes = b"RIFF",
    wave: bytes = b"WAVE",
    before_fmt: bytes = b"",
    before_data: bytes = b"",
    data_first: bool = False,
) -> bytes:
    """A WAV file whose every header field can be set to anything (the defaults describe ``data`` as
    16-bit mono PCM at 16 kHz). Sizes are 32-bit: values are masked, never refused."""
    align = block_align if block_align is not None else (channels * bits // 8) & 0xFFFF
    rate_bytes = byte_rate if byte_rate is not None else (rate * channels * bits // 8) & 0xFFFFFFFF
    body = struct.pack(
        "<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, rate_bytes & 0xFFFFFFFF, align, bits & 0xFFFF
    )
    body += fmt_extra
    fmt_chunk = b"fmt " + struct.pack("<I", (fmt_size if fmt_size is not None else len(body)) & 0xFFFFFFFF) + body
    data_chunk = b"data" + struct.pack("<I", (data_size if data_size is not None else len(data)) & 0xFFFFFFFF) + data
    if len(data) % 2 and data_size is None:
        data_chunk += b"\0"
    chunks = before_fmt + (data_chunk + fmt_chunk if data_first else fmt_chunk + before_data + data_chunk)
    size = riff_size if riff_size is not None else 4 + len(chunks)
    return riff + struct.pack("<I", size & 0xFFFFFFFF) + wave + chunks


def chunk(name: bytes, payload: bytes, declared: int | None = None) -> bytes:
    """A RIFF chunk (``declared``: the size its header states, whatever the payload holds)."""
    size = declared if declared is not None else len(payload)
    return name + struct.pack("<I", size & 0xFFFFFFFF) + payload + (b"\0" if len(payload) % 2 else b"")


# ---------------------------------------------------------------------------------------------------
# .npy latents with any header


def npy_header(descr: str, shape: Any, fortran_order: bool = False) -> str:
    return f"{{'descr': {descr!r}, 'fortran_order': {fortran_order}, 'shape': {shape!r}, }}"


def npy(
    header: str | bytes,
    data: bytes = b"",
    *,
    version: tuple[int, int] = (1, 0),
    magic: bytes = b"\x93NUMPY",
    header_len: int | None = None,
) -> bytes:
    """A .npy file with ``header`` as its header text, padded as numpy pads it (unless
    ``header_len`` states another length) and ``data`` after it."""
    text = header if isinstance(header, bytes) else header.encode("latin-1")
    width = 2 if version[0] == 1 else 4
    prefix = len(magic) + 2 + width
    padded = text + b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    length = header_len if header_len is not None else len(padded)
    packed = struct.pack("<H" if width == 2 else "<I", length & (0xFFFF if width == 2 else 0xFFFFFFFF))
    return magic + bytes(version) + packed + padded + data


def npy_of(array: np.ndarray, **save: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **save)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# Values


def json_literal(value: Any) -> str:
    """``value`` as JSON text, where floats may be NaN/Infinity (Python's json writes them bare)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def with_raw(body: dict[str, Any], path: str, raw: str) -> bytes:
    """``body`` as JSON with the value at ``path`` ("a.b") replaced by the raw JSON text ``raw``
    (NaN, 1e999, "\\ud800", numbers of any length...)."""
    marker = "\u0000RAW\u0000"
    document = json.loads(json.dumps(body))
    target = document
    keys = path.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = marker
    return json.dumps(document).replace(json.dumps(marker), raw).encode("utf-8")
