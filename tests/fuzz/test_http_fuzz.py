"""Fuzzing what surrounds the routes: methods, paths, query strings, headers and HTTP framing.

Every route with every method it does not take (405 with the JSON error body), HEAD and OPTIONS,
garbage in paths and query strings, bad API keys (this server requires one), hostile headers, and
framing no HTTP client sends (bad Content-Length, chunked bodies, pipelining, request smuggling
attempts, TLS or HTTP/2 bytes on the plain port), written byte for byte over a socket to 127.0.0.1.
Framing the HTTP parser cannot read may be refused by it (a plain 400) or by closing the connection;
whatever reaches the service keeps the JSON contract, and nothing is 5xx or hangs.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.malformed import (
    FUZZ_SETTINGS,
    Fuzzer,
    Part,
    assert_none_failed,
    chunked,
    collect,
    expect_sane,
    http_request,
    multipart,
    raw_problems,
)
from tests.support.server import ServerProcess, running_server

API_KEY = "fuzz-key-5f1d2a9c"
SYNTHESIZE = "/api/v1/tts/synthesize"
SPEECH = "/v1/audio/speech"
SYNTHESIZE_FILE = "/api/v1/tts/synthesize_file"
UPLOAD = "/api/v1/voices/upload"
CACHED_BODY = {"text": "Hi.", "voice_id": "voice_001"}
CACHED_SPEECH = {"model": "tts-1", "input": "Hi.", "voice": "alloy", "response_format": "wav", "stream": False}

# Every route and the methods it takes (HEAD is tested on its own).
ROUTES: dict[str, set[str]] = {
    "/health": {"GET"},
    "/ready": {"GET"},
    "/api/v1/info": {"GET"},
    "/api/v1/voices": {"GET", "POST"},
    "/api/v1/voices/voice_001": {"GET", "DELETE"},
    # GET and DELETE of /api/v1/voices/upload are the voice routes, for a voice whose id is "upload".
    "/api/v1/voices/upload": {"POST", "GET", "DELETE"},
    "/api/v1/voices/voice_001/enroll": {"POST"},
    SYNTHESIZE: {"POST"},
    SYNTHESIZE_FILE: {"POST"},
    SPEECH: {"POST"},
    "/v1/models": {"GET"},
    "/v1/models/tts-1": {"GET"},
    "/v1/audio/voices": {"GET"},
    "/": {"GET"},
    "/static/app.js": {"GET"},
    "/static/style.css": {"GET"},
    "/docs": {"GET"},
    "/redoc": {"GET"},
    "/openapi.json": {"GET"},
    "/api/v1/tts/jobs": {"GET", "POST"},
    "/api/v1/tts/jobs/no_such_job": {"GET", "DELETE"},
    "/api/v1/tts/jobs/no_such_job/events": {"GET"},
    "/api/v1/tts/jobs/no_such_job/audio": {"GET"},
    "/api/v1/tts/jobs/no_such_job/timestamps": {"GET"},
    "/api/v1/tts/jobs/no_such_job/subtitles.srt": {"GET"},
}
GET_ROUTES = [path for path, methods in ROUTES.items() if "GET" in methods]
POST_ROUTES = [path for path, methods in ROUTES.items() if "POST" in methods]
WRONG_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "MKCOL", "LINK"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("fuzz-http"), model_cache, api={"auth": {"api_keys": [API_KEY]}}
    ) as process:
        yield process


@pytest.fixture(scope="module")
def fuzz(server: ServerProcess) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(server.base_url, module="http", headers={"X-API-Key": API_KEY}, server=server)
    expect_sane(fuzzer.post_json(SYNTHESIZE, CACHED_BODY, count=False))  # the audio the cases ask for, cached
    try:
        yield fuzzer
    finally:
        fuzzer.close()


@pytest.fixture(scope="module")
def bare(server: ServerProcess) -> Iterator[Fuzzer]:
    """A client that sends no API key unless a case gives one."""
    fuzzer = Fuzzer(server.base_url, module="http", server=server)
    try:
        yield fuzzer
    finally:
        fuzzer.close()


@pytest.fixture(scope="module")
def metrics_port(server: ServerProcess) -> int:
    return yaml.safe_load(server.api_config.read_text())["api"]["monitoring"]["metrics_port"]


def _raw(fuzz: Fuzzer, data: bytes, failures: list[str], *, label: str = "", route: str = "raw HTTP", **kwargs) -> None:
    for answer in fuzz.raw(data, label=label, route=route, **kwargs):
        if problems := raw_problems(answer):
            failures.append("; ".join(problems) + "\n  " + answer.describe())


KEY_HEADER = [("X-API-Key", API_KEY)]


# ---------------------------------------------------------------------------------------------------
# Methods


@pytest.mark.parametrize("path", list(ROUTES))
def test_wrong_methods_are_405_with_the_error_body(fuzz: Fuzzer, path: str) -> None:
    failures: list[str] = []
    methods = [method for method in WRONG_METHODS if method not in ROUTES[path]]
    for method in methods:
        answer = fuzz.send(method, path, route=f"{method} (wrong method)")
        collect(answer, failures)
        if answer.status != 405:
            failures.append(f"{method} {path} -> {answer.status}, not 405\n  {answer.describe()}")
    assert_none_failed(failures, len(methods))


def test_methods_the_http_parser_does_not_know(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    methods = ["FOO", "get", "G\x00T", "GET\tX", "X" * 100]
    for method in methods:
        for path in ("/health", SYNTHESIZE):
            _raw(fuzz, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"), failures)
    assert_none_failed(failures, 2 * len(methods))


def test_head_on_every_get_route(fuzz: Fuzzer) -> None:
    """HEAD is GET without the body (RFC 9110): 200 on /health once HEAD is served; never 5xx."""
    failures: list[str] = []
    paths = [*GET_ROUTES, "/api/v1/voices/no_such_voice", "/static/no-such-file.js", "/no-such-route", *POST_ROUTES]
    for path in paths:
        collect(fuzz.send("HEAD", path, route="HEAD"), failures)
    # A HEAD answer followed by a GET on one connection: a body sent after the HEAD answer would be
    # read as the start of the next answer.
    for path in ["/health", "/api/v1/info", "/", "/static/app.js", "/openapi.json"]:
        pipelined = http_request("HEAD", path, KEY_HEADER) + http_request("GET", "/ready", [("Connection", "close")])
        answers = fuzz.raw(pipelined, route="HEAD", label=f"HEAD {path} then GET /ready", responses=2)
        if len(answers) != 2 or answers[1].status != 200:
            failures.append(f"HEAD {path} then GET /ready on one connection: {[a.describe() for a in answers]}")
        failures += [f"{'; '.join(p)}\n  {a.describe()}" for a in answers if (p := raw_problems(a))]
    assert_none_failed(failures, len(paths) + 5)


def test_options_and_cors_preflights(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    preflights = [
        {},
        {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PUT"},
        {
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Evil",
        },
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        {"Origin": "null", "Access-Control-Request-Method": "GET"},
        {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "\x7f"},
    ]
    for path in list(ROUTES)[:9]:
        for headers in preflights:
            collect(fuzz.send("OPTIONS", path, route="OPTIONS", headers=headers), failures)
            sent += 1
    assert_none_failed(failures, sent)


# ---------------------------------------------------------------------------------------------------
# Paths and query strings (byte for byte over a socket: an HTTP client would fix them)

QUERIES = [
    "?a=%ff",
    "?%00=%00",
    "?a=1&a=2",
    "?a[b]=c&a[]=d",
    "?=",
    "?&&&",
    "?a=%zz",
    "?a=%",
    "?text=Hi.&voice_id=../../etc/passwd",
    "?" + "q=" + "x" * 8000,
    "?" + "&".join(f"k{n}=v" for n in range(2000)),
]

PATHS = [
    "/%2e%2e/%2e%2e/etc/passwd",
    "/../../etc/passwd",
    "/static/..%2f..%2fapp.py",
    "/static/%2e%2e",
    "/static/..",
    "/static/.",
    "/static/",
    "/static",
    "/static/index.html%00.js",
    "/static/app.js%00",
    "/static/app.js/",
    "/static/%2Fetc%2Fpasswd",
    "/static/..%5c..%5capp.py",
    "/static/" + "a" * 300 + ".js",
    "/static/" + "a" * 5000,
    "//health",
    "/health/",
    "/HEALTH",
    "/health%20",
    "/api/v1/../health",
    "/api/v1/tts/synthesize/",
    "/v1/audio/speech/",
    "/%ff",
    "/%",
    "/docs/../openapi.json",
    "/api/v1/voices/%2e%2e/%2e%2e/health",
    "/v1/models/%00",
    "/v1/models/" + "m" * 5000,
    "/v1/models/%ed%a0%80",
    "/.",
    "/" + "/" * 1000,
]


@pytest.mark.parametrize("path", GET_ROUTES)
def test_garbage_query_strings_on_get_routes(fuzz: Fuzzer, path: str) -> None:
    failures: list[str] = []
    for query in QUERIES:
        _raw(
            fuzz,
            http_request("GET", path + query, [*KEY_HEADER, ("Connection", "close")]),
            failures,
            route="GET ?query",
        )
    assert_none_failed(failures, len(QUERIES))


def test_garbage_query_strings_on_json_routes(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for path, body in ((SYNTHESIZE, CACHED_BODY), (SPEECH, CACHED_SPEECH)):
        for query in QUERIES:
            request = http_request(
                "POST",
                path + query,
                [*KEY_HEADER, ("Content-Type", "application/json"), ("Connection", "close")],
                json.dumps(body).encode(),
            )
            _raw(fuzz, request, failures, route="POST ?query")
    assert_none_failed(failures, 2 * len(QUERIES))


def test_garbage_paths(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for path in PATHS:
        for method in ("GET", "DELETE"):
            _raw(
                fuzz,
                http_request(method, path, [*KEY_HEADER, ("Connection", "close")]),
                failures,
                route=f"{method} path",
            )
    raw_bytes = [
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /h\x7fealth HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in raw_bytes:
        _raw(fuzz, data, failures, route="GET path")
    assert_none_failed(failures, 2 * len(PATHS) + len(raw_bytes))


# ---------------------------------------------------------------------------------------------------
# API keys and other headers

AUTHORIZATIONS: list[tuple[str, str | bytes | None]] = [
    ("no key", None),
    ("an empty Authorization", ""),
    ("Bearer alone", "Bearer"),
    ("a wrong key", "Bearer wrong"),
    ("a lower-case scheme", "bearer " + API_KEY),
    ("the key with a suffix", "Bearer " + API_KEY + " extra"),
    ("the key twice", f"Bearer {API_KEY}, Bearer {API_KEY}"),
    ("Basic", "Basic " + base64.b64encode(f"user:{API_KEY}".encode()).decode()),
    ("Token", "Token " + API_KEY),
    ("a tab after Bearer", "Bearer\t" + API_KEY),
    ("an 8 kB key", "Bearer " + "k" * 8000),
    ("latin-1 bytes", b"Bearer \xe9\xff"),
    ("a key one character short", "Bearer " + API_KEY[:-1]),
]
X_API_KEYS: list[str | bytes] = ["", "wrong", "k" * 8000, b"\xe9\xff", API_KEY.upper()]
# Values with spaces at their ends, which httpx will not send: written over a socket instead.
SPACED_KEYS = [
    ("Authorization", "Bearer "),
    ("Authorization", " Bearer " + API_KEY),
    ("X-API-Key", " "),
    ("X-API-Key", API_KEY + " "),
    ("X-API-Key", " " + API_KEY),
    ("X-API-Key", "\t" + API_KEY + "\t"),
]
AUTH_ROUTES = [
    ("GET", "/api/v1/voices", None),
    ("POST", SYNTHESIZE, CACHED_BODY),
    ("POST", SPEECH, CACHED_SPEECH),
    ("DELETE", "/api/v1/voices/voice_001", None),
    ("GET", "/health", None),
    ("GET", "/v1/models", None),
]


@pytest.mark.parametrize(("method", "path", "body"), AUTH_ROUTES, ids=[f"{m} {p}" for m, p, _ in AUTH_ROUTES])
def test_bad_api_keys(fuzz: Fuzzer, bare: Fuzzer, method: str, path: str, body: dict | None) -> None:
    failures: list[str] = []
    sent = 0
    for label, value in AUTHORIZATIONS:
        headers = {} if value is None else {"Authorization": value}
        collect(bare.send(method, path, route="auth", label=label, json=body, headers=headers), failures)
        sent += 1
    for value in X_API_KEYS:
        collect(bare.send(method, path, route="auth", json=body, headers={"X-API-Key": value}), failures)
        sent += 1
    content = json.dumps(body).encode() if body else b""
    for name, value in SPACED_KEYS:
        headers = [(name, value), ("Content-Type", "application/json"), ("Connection", "close")]
        _raw(fuzz, http_request(method, path, headers, content), failures, route="auth", label=f"{name}: {value!r}")
        sent += 1
    assert_none_failed(failures, sent)


def _header_cases() -> list[tuple[str, list[tuple[str, str]]]]:
    many = [(f"X-H{n}", "v") for n in range(5000)]
    return [
        ("X-Request-ID of 1000 characters", [("X-Request-ID", "a" * 1000)]),
        ("X-Request-ID with a NUL", [("X-Request-ID", "a\x00b")]),
        ("X-Request-ID with latin-1", [("X-Request-ID", "\xe9\xff")]),
        ("X-Request-ID with CRLF-like text", [("X-Request-ID", "a%0d%0aSet-Cookie: x=1")]),
        ("an empty X-Request-ID", [("X-Request-ID", "")]),
        ("two X-Request-IDs", [("X-Request-ID", "a"), ("X-Request-ID", "b")]),
        ("an empty X-Forwarded-For", [("X-Forwarded-For", "")]),
        ("X-Forwarded-For out of range", [("X-Forwarded-For", "999.999.1.1")]),
        ("X-Forwarded-For of colons", [("X-Forwarded-For", "::::")]),
        ("X-Forwarded-For with empties", [("X-Forwarded-For", "1.2.3.4, , ,")]),
        ("X-Forwarded-For with a port", [("X-Forwarded-For", "[::1]:80")]),
        ("X-Forwarded-For unknown", [("X-Forwarded-For", "unknown")]),
        ("X-Forwarded-For of 10 kB", [("X-Forwarded-For", "1.1.1.1," * 1250)]),
        ("X-Forwarded-Proto garbage", [("X-Forwarded-Proto", "gopher\x01")]),
        ("Forwarded garbage", [("Forwarded", 'for="_gazonk";proto=;by=')]),
        ("an empty Host", [("X-Dummy", "1")]),
        ("Accept garbage", [("Accept", ";;;q=nan, */*;q=-1")]),
        ("Accept-Encoding garbage", [("Accept-Encoding", "gzip;q=nan, br;q=2")]),
        ("Content-Type on a GET", [("Content-Type", "application/json; charset=\x7f")]),
        ("Cookie garbage", [("Cookie", "=;=;a=\x7f; " + "c" * 4000)]),
        ("Origin garbage", [("Origin", "http://\x7f:99999")]),
        ("Origin allowed", [("Origin", "http://localhost:3000")]),
        ("Expect garbage", [("Expect", "200-ok")]),
        ("Expect 100-continue without a body", [("Expect", "100-continue")]),
        (
            "a websocket upgrade",
            [
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        ),
        (
            "an h2c upgrade",
            [
                ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ],
        ),
        ("a header of 100 kB", [("X-Big", "b" * 100_000)]),
        ("5000 headers", many),
        ("a header with latin-1 bytes", [("X-Latin", "\xe9\xff\xfe")]),
        ("Range on an API route", [("Range", "bytes=0-10")]),
        ("If-None-Match garbage", [("If-None-Match", '"' * 100)]),
        ("If-Modified-Since garbage", [("If-Modified-Since", "yesterday")]),
    ]


@pytest.mark.parametrize("path", ["/health", "/api/v1/voices", "/api/v1/info", "/"])
def test_hostile_headers(fuzz: Fuzzer, path: str) -> None:
    failures: list[str] = []
    cases = _header_cases()
    for label, headers in cases:
        host = "" if label == "an empty Host" else "127.0.0.1"
        _raw(
            fuzz,
            http_request("GET", path, [*KEY_HEADER, *headers, ("Connection", "close")], host=host),
            failures,
            label=label,
            route="headers",
        )
    assert_none_failed(failures, len(cases))


def test_hostile_headers_on_a_synthesis(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    cases = _header_cases()
    body = json.dumps(CACHED_BODY).encode()
    for label, headers in cases:
        request = http_request(
            "POST",
            SYNTHESIZE,
            [*KEY_HEADER, ("Content-Type", "application/json"), *headers, ("Connection", "close")],
            body,
        )
        _raw(fuzz, request, failures, label=label, route="headers")
    assert_none_failed(failures, len(cases))


RANGES = [
    "bytes=10-5",
    "bytes=99999999-",
    "bytes=-0",
    "bytes=-99999999",
    "bytes=0-0," * 500,
    "bytes=a-b",
    "lines=1-2",
    "bytes=0-1,1-2",
    "bytes=--1",
    "bytes=18446744073709551616-",
    "bytes=",
    "bytes=0-",
]


@pytest.mark.parametrize("path", ["/static/app.js", "/", "/static/favicon.svg"])
def test_ranges_and_conditions_on_files(fuzz: Fuzzer, path: str) -> None:
    failures: list[str] = []
    conditions = [
        ("If-Range", "garbage"),
        ("If-None-Match", "*"),
        ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ]
    sent = 0
    for value in RANGES:
        _raw(fuzz, http_request("GET", path, [("Range", value), ("Connection", "close")]), failures, route="GET Range")
        sent += 1
    for name, value in conditions:
        _raw(
            fuzz,
            http_request("GET", path, [("Range", "bytes=0-1"), (name, value), ("Connection", "close")]),
            failures,
            route="GET Range",
        )
        sent += 1
    assert_none_failed(failures, sent)


# ---------------------------------------------------------------------------------------------------
# Framing: Content-Length, chunked bodies, request lines, pipelining


def _json_post(headers: list[tuple[str, str]], body: bytes, *, content_length: bool = True) -> bytes:
    return http_request(
        "POST",
        SYNTHESIZE,
        [*KEY_HEADER, ("Content-Type", "application/json"), *headers],
        body,
        content_length=content_length,
    )


def test_content_length_and_transfer_encoding(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    body = json.dumps(CACHED_BODY).encode()
    cases: list[tuple[str, bytes, bool]] = [
        ("Content-Length abc", _json_post([("Content-Length", "abc")], body), False),
        ("Content-Length -1", _json_post([("Content-Length", "-1")], body), False),
        ("Content-Length '1, 2'", _json_post([("Content-Length", "1, 2")], body), False),
        ("two Content-Lengths", _json_post([("Content-Length", str(len(body))), ("Content-Length", "3")], body), False),
        ("Content-Length +14", _json_post([("Content-Length", f"+{len(body)}")], body), False),
        ("Content-Length with spaces", _json_post([("Content-Length", f"  {len(body)}  ")], body), False),
        ("Content-Length 0x10", _json_post([("Content-Length", "0x10")], body), False),
        ("Content-Length of 20 digits", _json_post([("Content-Length", "9" * 20)], body), False),
        (
            "Content-Length 10**12 with Expect: 100-continue",
            _json_post([("Content-Length", str(10**12)), ("Expect", "100-continue")], b""),
            False,
        ),
        ("Content-Length 0 with a body", _json_post([("Content-Length", "0")], body), False),
        ("Content-Length shorter than the body", _json_post([("Content-Length", str(len(body) - 5))], body), False),
        ("Content-Length longer than the body", _json_post([("Content-Length", str(len(body) + 100))], body), True),
        ("chunked", _json_post([("Transfer-Encoding", "chunked")], chunked(body, 5), content_length=False), False),
        (
            "chunked, one byte a chunk",
            _json_post([("Transfer-Encoding", "chunked")], chunked(body, 1), content_length=False),
            False,
        ),
        (
            "chunked with extensions",
            _json_post(
                [("Transfer-Encoding", "chunked")],
                b"5;a=b;c\r\n" + body[:5] + b"\r\n" + chunked(body[5:]),
                content_length=False,
            ),
            False,
        ),
        (
            "chunked with a trailer",
            _json_post(
                [("Transfer-Encoding", "chunked")], chunked(body)[:-2] + b"X-Trailer: 1\r\n\r\n", content_length=False
            ),
            False,
        ),
        (
            "chunked with a size that is not hex",
            _json_post([("Transfer-Encoding", "chunked")], b"zz\r\nabc\r\n0\r\n\r\n", content_length=False),
            False,
        ),
        (
            "chunked with a 2**64 size",
            _json_post(
                [("Transfer-Encoding", "chunked")], b"10000000000000000\r\nabc\r\n0\r\n\r\n", content_length=False
            ),
            True,
        ),
        (
            "chunked with a negative size",
            _json_post([("Transfer-Encoding", "chunked")], b"-5\r\nabcde\r\n0\r\n\r\n", content_length=False),
            False,
        ),
        (
            "chunked without the last chunk",
            _json_post([("Transfer-Encoding", "chunked")], chunked(body)[:-5], content_length=False),
            True,
        ),
        (
            "chunked and a Content-Length",
            _json_post(
                [("Transfer-Encoding", "chunked"), ("Content-Length", "5")], chunked(body), content_length=False
            ),
            False,
        ),
        ("Transfer-Encoding gzip", _json_post([("Transfer-Encoding", "gzip")], body, content_length=False), True),
        (
            "Transfer-Encoding 'chunked, chunked'",
            _json_post([("Transfer-Encoding", "chunked, chunked")], chunked(body), content_length=False),
            False,
        ),
        (
            "Transfer-Encoding xchunked",
            _json_post([("Transfer-Encoding", "xchunked")], chunked(body), content_length=False),
            True,
        ),
        (
            "Transfer-Encoding with a space",
            _json_post([("Transfer-Encoding ", "chunked")], chunked(body), content_length=False),
            False,
        ),
        (
            "Transfer-Encoding on HTTP/1.0",
            http_request(
                "POST",
                SYNTHESIZE,
                [*KEY_HEADER, ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                chunked(body),
                version="HTTP/1.0",
                content_length=False,
            ),
            True,
        ),
        ("Content-Encoding gzip on plain JSON", _json_post([("Content-Encoding", "gzip")], body), False),
    ]
    for label, data, may_wait in cases:
        _raw(fuzz, data, failures, label=label, timeout=3 if may_wait else 20, may_wait=may_wait)
    assert fuzz.healthy()
    assert_none_failed(failures, len(cases))


def test_chunked_multipart_upload_and_oversize_bodies(fuzz: Fuzzer) -> None:
    """Chunked bodies have no Content-Length to refuse up front: the size limit counts as they come."""
    failures: list[str] = []
    garbage = b"not audio " * 100
    form, content_type = multipart([Part("voice_id", "fz_http_1"), Part("voice_file", garbage, filename="a.wav")])
    headers = [*KEY_HEADER, ("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
    _raw(
        fuzz,
        http_request("POST", UPLOAD, headers, chunked(form, 100), content_length=False),
        failures,
        label="chunked upload",
    )

    # 61 MB (over api.max_request_size, 60 MB) without a Content-Length: refused as it arrives.
    big_part = b"x" * (1 << 20)
    head, tail = form.split(garbage)
    pieces = [http_request("POST", UPLOAD, headers, b"", content_length=False)]
    pieces += [f"{len(head):x}\r\n".encode() + head + b"\r\n"]
    pieces += [f"{len(big_part):x}\r\n".encode() + big_part + b"\r\n"] * 61
    pieces += [f"{len(tail):x}\r\n".encode() + tail + b"\r\n0\r\n\r\n"]
    _raw(fuzz, pieces, failures, label="61 MB chunked upload", timeout=60)

    # The same with a Content-Length: refused before the body is read.
    declared = http_request(
        "POST", UPLOAD, [*KEY_HEADER, ("Content-Type", content_type), ("Content-Length", str(61 * 10**6))], b""
    )
    _raw(fuzz, [declared, b"x" * 100_000], failures, label="61 MB declared", timeout=20)
    # 10 MB of JSON text, chunked (under the request limit: parsed, then refused as too long).
    text = json.dumps({"text": "a" * 10_000_000}).encode()
    request = http_request(
        "POST",
        SYNTHESIZE,
        [*KEY_HEADER, ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
        b"",
        content_length=False,
    )
    _raw(fuzz, [request, chunked(text, 1 << 20)], failures, label="10 MB chunked JSON", timeout=60)
    assert fuzz.healthy()
    assert_none_failed(failures, 4)


def test_request_lines_and_framing(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    key = f"X-API-Key: {API_KEY}\r\n".encode()
    cases: list[tuple[str, bytes, bool]] = [
        ("no Host", b"GET /api/v1/voices HTTP/1.1\r\n" + key + b"Connection: close\r\n\r\n", False),
        ("HTTP/1.0", b"GET /health HTTP/1.0\r\n\r\n", False),
        ("HTTP/2.0 in a request line", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", False),
        ("HTTP/9.9", b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", False),
        ("HTTP/0.9", b"GET /health\r\n\r\n", False),
        ("no version", b"GET /health \r\n\r\n", False),
        ("a lower-case protocol", b"GET /health http/1.1\r\nHost: x\r\n\r\n", False),
        ("absolute-form", b"GET http://127.0.0.1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        (
            "absolute-form to another host",
            b"GET http://example.invalid/health HTTP/1.1\r\nHost: example.invalid\r\nConnection: close\r\n\r\n",
            False,
        ),
        ("asterisk-form", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        ("CONNECT", b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", False),
        ("a 100 kB target", b"GET /health?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", False),
        ("a NUL in the target", b"GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n", False),
        ("a space in the target", b"GET /health x HTTP/1.1\r\nHost: x\r\n\r\n", False),
        ("LF line ends", b"GET /health HTTP/1.1\nHost: x\n\n", False),
        ("CR line ends", b"GET /health HTTP/1.1\rHost: x\r\r", True),
        ("an obsolete folded header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", False),
        ("a header without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", False),
        ("a header name with a space", b"GET /health HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n", False),
        ("a header name of NUL", b"GET /health HTTP/1.1\r\nHost: x\r\n\x00: b\r\n\r\n", False),
        ("a header value with NUL", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", False),
        ("a header value with a bare CR", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", False),
        ("a blank line first", b"\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        ("only blank lines", b"\r\n\r\n\r\n", True),
        ("GARBAGE", b"GARBAGE\r\n\r\n", False),
        ("binary", b"\x00\xff" * 100, True),
        ("a TLS ClientHello", bytes.fromhex("16030100a5010000a10303") + b"\0" * 160, True),
        ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", False),
        ("an unfinished request line", b"GET /health HT", True),
        ("unfinished headers", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b", True),
    ]
    for label, data, may_wait in cases:
        _raw(fuzz, data, failures, label=label, timeout=3 if may_wait else 20, may_wait=may_wait)
    assert fuzz.healthy()
    assert_none_failed(failures, len(cases))


def test_pipelined_requests(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    ok = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    bad_json = _json_post([], b"{")
    cases = [
        ("two GETs", ok + ok, 2),
        ("a GET, a bad JSON body, a GET", ok + bad_json + ok, 3),
        (
            "a JSON POST whose Content-Length is short, then a GET",
            _json_post([("Content-Length", "10")], json.dumps(CACHED_BODY).encode()) + ok,
            2,
        ),
        ("ten GETs", ok * 10, 10),
    ]
    for label, data, count in cases:
        answers = fuzz.raw(data, label=label, responses=count, timeout=20)
        for answer in answers:
            if problems := raw_problems(answer):
                failures.append("; ".join(problems) + "\n  " + answer.describe())
    assert_none_failed(failures, len(cases))


def test_a_client_that_stops_halfway_does_not_hold_the_server(fuzz: Fuzzer) -> None:
    host, port = "127.0.0.1", fuzz.port
    sockets = []
    for data in (b"GET /health HTTP/1.1\r\nHost: x\r\n", _json_post([("Content-Length", "1000")], b'{"text": "Hi')):
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(data)
        sockets.append(sock)
    time.sleep(0.5)
    try:
        answer = fuzz.send("GET", "/health", route="GET while others stall")
        expect_sane(answer)
        assert answer.status == 200
    finally:
        for sock in sockets:
            sock.close()


# ---------------------------------------------------------------------------------------------------
# The metrics listener (Prometheus' own server: only never 5xx, never a hang)


def test_metrics_listener(fuzz: Fuzzer, metrics_port: int) -> None:
    failures: list[str] = []
    cases = [
        http_request("GET", "/metrics", [("Connection", "close")]),
        http_request("HEAD", "/metrics", [("Connection", "close")]),
        http_request("POST", "/metrics", [("Connection", "close")], b"x=1"),
        http_request("PUT", "/metrics", [("Connection", "close")], b"x"),
        http_request("GET", "/metrics?name[]=x&name[]=%ff", [("Connection", "close")]),
        http_request("GET", "/", [("Connection", "close")]),
        http_request("GET", "/no-such-path", [("Connection", "close")]),
        http_request(
            "GET", "/metrics", [("Accept", "application/openmetrics-text; version=9"), ("Connection", "close")]
        ),
        http_request("GET", "/metrics", [("Accept-Encoding", "gzip"), ("Connection", "close")]),
        http_request("GET", "/metrics", [("X-Big", "b" * 100_000), ("Connection", "close")]),
    ]
    garbage = [b"GARBAGE\r\n\r\n", b"\x00\xff" * 100]
    for data in cases:
        _raw(fuzz, data, failures, route="metrics listener", port=metrics_port, timeout=10, status_only=True)
    for data in garbage:  # may be answered, closed or left to its own timeout: not a hang of the API
        _raw(
            fuzz,
            data,
            failures,
            route="metrics listener",
            port=metrics_port,
            timeout=3,
            may_wait=True,
            status_only=True,
        )
    assert_none_failed(failures, len(cases) + len(garbage))


# ---------------------------------------------------------------------------------------------------
# Property-based

SEGMENT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


def test_generated_paths(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0

    @settings(FUZZ_SETTINGS, max_examples=100)
    @given(
        prefix=st.sampled_from(["/", "/api/v1/", "/api/v1/voices/", "/v1/models/", "/static/", "/api/v1/tts/"]),
        segments=st.lists(SEGMENT, min_size=1, max_size=3),
        method=st.sampled_from(["GET", "DELETE", "POST"]),
    )
    def run(prefix: str, segments: list[str], method: str) -> None:
        nonlocal sent
        sent += 1
        path = prefix + "/".join(quote(segment, safe="") for segment in segments)
        collect(fuzz.send(method, path, route=f"{method} generated path"), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_headers(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    names = st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,30}", fullmatch=True)
    values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=200)

    @settings(FUZZ_SETTINGS, max_examples=60)
    @given(headers=st.dictionaries(names, values, max_size=6), route=st.sampled_from(["/api/v1/voices", SYNTHESIZE]))
    def run(headers: dict[str, str], route: str) -> None:
        nonlocal sent
        sent += 1
        reserved = {
            "content-length",
            "transfer-encoding",
            "host",
            "connection",
            "expect",
            "upgrade",
            "x-api-key",
            "authorization",
            "content-type",
            "content-encoding",
        }
        chosen = [(name, value.strip()) for name, value in headers.items() if name.lower() not in reserved]
        if route == SYNTHESIZE:
            data = _json_post([*chosen, ("Connection", "close")], json.dumps(CACHED_BODY).encode())
        else:
            data = http_request("GET", route, [*KEY_HEADER, *chosen, ("Connection", "close")])
        _raw(fuzz, data, failures, route="generated headers")

    run()
    assert_none_failed(failures, sent)


def test_generated_mutations_of_a_request(fuzz: Fuzzer) -> None:
    """A valid request with bytes flipped, dropped or inserted: refused, answered or waited on (when
    the mutation leaves it unfinished), never 5xx."""
    failures: list[str] = []
    sent = 0
    request = http_request(
        "GET", "/api/v1/voices/voice_001?x=1", [*KEY_HEADER, ("Accept", "application/json"), ("Connection", "close")]
    )

    @settings(FUZZ_SETTINGS, max_examples=50)
    @given(
        edits=st.lists(
            st.tuples(
                st.sampled_from(["flip", "drop", "insert"]),
                st.integers(0, len(request) - 1),
                st.binary(min_size=1, max_size=3),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def run(edits: list[tuple[str, int, bytes]]) -> None:
        nonlocal sent
        sent += 1
        data = bytearray(request)
        for kind, position, payload in edits:
            position = min(position, len(data) - 1)
            if kind == "flip":
                data[position] ^= payload[0] or 1
            elif kind == "drop":
                del data[position]
            else:
                data[position:position] = payload
        _raw(fuzz, bytes(data), failures, route="mutated request", timeout=2, may_wait=True)

    run()
    assert fuzz.healthy()
    assert_none_failed(failures, sent)


def test_server_survived(fuzz: Fuzzer) -> None:
    server: ServerProcess = fuzz.server
    assert server.process is not None and server.process.poll() is None, server.console()[-3000:]
    assert fuzz.healthy()
