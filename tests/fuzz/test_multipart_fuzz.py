"""Fuzzing the multipart routes and the voice store: POST /api/v1/tts/synthesize_file, POST
/api/v1/voices/upload, GET and DELETE /api/v1/voices/{id}.

Malformed multipart framing, every form field with every kind of value (also lone surrogates, which
only a request charset such as utf-7 can smuggle into a form), recordings that are not what they
claim (WAV headers with any field wrong, truncated or garbage mp3/flac/m4a/ogg, playlists, archives),
.npy latents with malformed headers (huge shapes, object dtypes, pickles, NaN...), and voice ids with
path tricks. The contract is tests/support/malformed.py's; on top of it, every test leaves the voice
store as it found it (tests/fuzz/conftest.py): a refused upload stores nothing, a refused delete
deletes nothing, and the known voice uploaded at the start keeps what GET shows of it.

Synthesis is kept small: most references are refused before any work; synthesize_file is sent as a
stream and closed once its status is known (the reference is prepared, the speech cancelled), and
what an upload accepts is deleted again.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import pickle
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.audio import decode, encode, encode_as
from tests.support.malformed import (
    FUZZ_SETTINGS,
    Answer,
    Fuzzer,
    Part,
    assert_none_failed,
    chunk,
    collect,
    expect_raw_sane,
    expect_sane,
    http_request,
    multipart,
    npy,
    npy_header,
    npy_of,
    pcm16,
    wav,
)
from tests.support.server import ServerProcess, running_server

SYNTHESIZE_FILE = "/api/v1/tts/synthesize_file"
UPLOAD = "/api/v1/voices/upload"
VOICES = "/api/v1/voices"
KNOWN = "fuzz_known"
BUILTINS = [f"voice_00{n}" for n in range(1, 6)]
MAX_FILE = 3_000_000  # storage.max_voice_file_size of the fuzz server: oversize cases stay small

RNG = np.random.default_rng(20240611)


@dataclass
class Speech:
    """Real speech: the service's own (any speech check of the service accepts it), as a WAV and as
    float samples of shape (frames, 1). Made once per module, by the ``fuzz`` fixture."""

    wav: bytes = b""
    samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    rate: int = 24_000

    def at(self, rate: int | None = None, *, seconds: float | None = None, channels: int = 1) -> np.ndarray:
        """The samples resampled to ``rate``, cut or repeated to ``seconds``, on ``channels`` channels."""
        mono = self.samples[:, 0]
        if rate is not None and rate != self.rate:
            positions = np.arange(0, len(mono), self.rate / rate)
            mono = np.interp(positions, np.arange(len(mono)), mono).astype(np.float32)
        rate = rate or self.rate
        if seconds is not None:
            frames = int(seconds * rate)
            mono = np.tile(mono, frames // len(mono) + 1)[:frames]
        return np.repeat(mono[:, None], channels, axis=1)


REAL = Speech()
REAL_TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back home."
_REAL_AUDIO: Any = object()
"""Default of the part builders: the real reference recording."""
GARBAGE = b"this is not audio at all; " * 40


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Fuzzer]:
    folder = tmp_path_factory.mktemp("fuzz-multipart")
    with running_server(folder, model_cache, storage_extra={"max_voice_file_size": MAX_FILE}) as server:
        fuzzer = Fuzzer(server.base_url, module="multipart", known_voice=KNOWN, server=server)
        spoken = fuzzer.post_json("/api/v1/tts/synthesize", {"text": REAL_TEXT, "voice_id": "voice_005"}, count=False)
        assert spoken.status == 200, spoken.describe()
        samples, rate = decode(spoken.body)
        # Two seconds are enough for every check (at least 1 s) and keep each case's decoding cheap.
        REAL.samples, REAL.rate = samples[: 2 * rate, None].astype(np.float32), rate
        REAL.wav = wav(pcm16(REAL.samples), rate=rate)
        parts = [
            Part("voice_id", KNOWN),
            Part("name", "Known voice"),
            Part("description", "the voice no fuzz case may change"),
            Part("voice_file", REAL.wav, filename="known.wav", content_type="audio/wav"),
        ]
        # The first preparation also measures the stock voices (a minute on a loaded machine): setup, not a case.
        created = fuzzer.post_multipart(UPLOAD, parts, count=False, timeout=600)
        assert created.status == 201, created.describe()
        try:
            yield fuzzer
        finally:
            fuzzer.close()


# ---------------------------------------------------------------------------------------------------
# Helpers

_ids = itertools.count()


def _new_id() -> str:
    return f"fz{next(_ids):05d}"


def _file(field: str, content: bytes, filename: str = "ref.wav", content_type: str = "audio/wav") -> Part:
    return Part(field, content, filename=filename, content_type=content_type)


def _synthesize_file_parts(
    audio: bytes | None = _REAL_AUDIO,
    *,
    audio_field: str = "voice_file",
    latent: bytes | None = None,
    latent_field: str = "voice_latent",
    text: str | bytes = "Hi.",
    extra: list[Part] | None = None,
) -> list[Part]:
    parts = [Part("text", text), Part("stream", "true"), Part("format", "pcm")]
    audio = REAL.wav if audio is _REAL_AUDIO else audio
    if audio is not None:
        parts.append(_file(audio_field, audio))
    if latent is not None:
        parts.append(_file(latent_field, latent, "ref.npy", "application/octet-stream"))
    return parts + (extra or [])


def _upload_parts(
    audio: bytes | None = _REAL_AUDIO,
    *,
    voice_id: str | bytes | None = None,
    audio_field: str = "voice_file",
    latent: bytes | None = None,
    latent_field: str = "latent_file",
    extra: list[Part] | None = None,
) -> list[Part]:
    parts = [Part("voice_id", voice_id if voice_id is not None else _new_id())]
    audio = REAL.wav if audio is _REAL_AUDIO else audio
    if audio is not None:
        parts.append(_file(audio_field, audio))
    if latent is not None:
        parts.append(_file(latent_field, latent, "ref.npy", "application/octet-stream"))
    return parts + (extra or [])


def _accepted_voice_is_sound(fuzz: Fuzzer, answer: Answer, failures: list[str]) -> None:
    """An upload the server took: the voice must show (GET, the list) and delete cleanly, so that
    what it stored (a strange name, say) cannot break the store for everyone after it."""
    try:
        voice_id = json.loads(answer.body)["id"]
    except (ValueError, KeyError, TypeError):
        failures.append(f"an accepted upload's body names no voice id\n  {answer.describe()}")
        return
    path = f"{VOICES}/{quote(voice_id, safe='')}"
    for method, target in (("GET", path), ("GET", VOICES), ("DELETE", path)):
        check = fuzz.send(method, target, count=False)
        if check.status != 200:
            failures.append(f"after the accepted upload, {method} {target} -> {check.status}\n  {answer.describe()}")


def _send_upload(fuzz: Fuzzer, parts: list[Part], failures: list[str], *, label: str = "", **kwargs) -> Answer:
    answer = fuzz.post_multipart(UPLOAD, parts, label=label, **kwargs)
    collect(answer, failures)
    if answer.status in (201, 202):
        _accepted_voice_is_sound(fuzz, answer, failures)
    return answer


def _send_synthesize_file(fuzz: Fuzzer, parts: list[Part], failures: list[str], *, label: str = "", **kwargs) -> Answer:
    answer = fuzz.post_multipart(SYNTHESIZE_FILE, parts, label=label, headers_only=True, **kwargs)
    collect(answer, failures)
    return answer


def _to_both_routes(fuzz: Fuzzer, cases: list[tuple[str, dict]], kind: str, *, one_shot_every: int = 1) -> None:
    """Each (label, keyword arguments of the part builders) to upload, and every ``one_shot_every``-th
    of them to synthesize_file too (both read a reference the same way; a reference that passes is
    prepared, which costs a moment on each route)."""
    failures: list[str] = []
    sent = 0
    for index, (label, options) in enumerate(cases):
        if index % one_shot_every == 0:
            _send_synthesize_file(fuzz, _synthesize_file_parts(**options), failures, label=f"{kind} {label}")
            sent += 1
        _send_upload(fuzz, _upload_parts(**options), failures, label=f"{kind} {label}")
        sent += 1
    assert_none_failed(failures, sent)


# ---------------------------------------------------------------------------------------------------
# Multipart framing and fields


def _raw_multipart_cases(route: str) -> list[tuple[str, bytes, str | None]]:
    """(label, body, Content-Type) of malformed multipart requests to ``route``."""
    base = _synthesize_file_parts(GARBAGE) if route == SYNTHESIZE_FILE else _upload_parts(GARBAGE)
    body, content_type = multipart(base)
    boundary = content_type.split("boundary=")[1]
    many_fields, many_type = multipart([*base, *(Part(f"f{n}", "x") for n in range(1001))])
    many_files, files_type = multipart([*base, *(_file(f"f{n}", b"x") for n in range(1001))])
    return [
        ("no boundary", body, "multipart/form-data"),
        ("another boundary", body, "multipart/form-data; boundary=not-the-one"),
        ("an empty boundary", body, "multipart/form-data; boundary="),
        (
            "a boundary of 200 characters",
            body.replace(boundary.encode(), b"b" * 200),
            "multipart/form-data; boundary=" + "b" * 200,
        ),
        ("a quoted boundary", body, f'multipart/form-data; boundary="{boundary}"'),
        ("no closing boundary", body[: body.rindex(b"--" + boundary.encode() + b"--")], content_type),
        ("cut in a part", body[: len(body) // 2], content_type),
        ("only the closing boundary", f"--{boundary}--\r\n".encode(), content_type),
        ("an empty body", b"", content_type),
        ("a preamble and an epilogue", b"preamble\r\n" + body + b"epilogue", content_type),
        ("LF line ends", body.replace(b"\r\n", b"\n"), content_type),
        ("JSON sent as multipart", b'{"text": "Hi."}', content_type),
        ("multipart sent as JSON", body, "application/json"),
        ("multipart sent as text/plain", body, "text/plain"),
        ("multipart/mixed", body, f"multipart/mixed; boundary={boundary}"),
        ("a form-urlencoded body", b"text=Hi.&voice_id=" + _new_id().encode(), "application/x-www-form-urlencoded"),
        ("form-urlencoded with bad escapes", b"text=%ff%fe%zz&voice_id=%00", "application/x-www-form-urlencoded"),
        ("no content type", body, None),
        ("a charset no codec has", body, content_type + "; charset=no-such-codec"),
        ("1001 fields", many_fields, many_type),
        ("1001 files", many_files, files_type),
        (
            "a part without a name",
            multipart([*base, Part(None, "x")])[0],
            content_type,
        ),
        (
            "a part without headers",
            multipart([*base, Part("x", "y", raw_headers=b"")])[0],
            content_type,
        ),
        (
            "a part with a header line of garbage",
            multipart([*base, Part("x", "y", raw_headers=b"garbage without a colon\r\n")])[0],
            content_type,
        ),
        (
            "a field of 2 MB",
            multipart([*base, Part("description", "d" * 2_000_000)])[0],
            content_type,
        ),
    ]


@pytest.mark.parametrize("route", [SYNTHESIZE_FILE, UPLOAD])
def test_malformed_multipart(fuzz: Fuzzer, route: str) -> None:
    failures: list[str] = []
    cases = _raw_multipart_cases(route)
    for label, body, content_type in cases:
        answer = fuzz.post_raw(route, body, content_type, label=label, headers_only=True)
        collect(answer, failures)
        if route == UPLOAD and answer.status in (201, 202):
            _accepted_voice_is_sound(fuzz, answer, failures)
    assert_none_failed(failures, len(cases))


def _field_cases(route: str) -> list[tuple[str, list[Part]]]:
    """Missing, doubled, empty and mistyped fields and files."""
    build = _synthesize_file_parts if route == SYNTHESIZE_FILE else _upload_parts
    latent_names = ("voice_latent", "latent_file")
    cases = [
        ("no fields at all", []),
        ("no reference recording", build(None)),
        ("an empty recording", build(b"")),
        ("the recording under both names", build(extra=[_file("audio_file", REAL.wav)])),
        (
            "the latent under both names",
            build(
                latent=npy_of(np.zeros((1, 40, 32), np.float32)),
                latent_field=latent_names[0],
                extra=[_file(latent_names[1], b"x")],
            ),
        ),
        ("a latent and no recording", build(None, latent=npy_of(np.zeros((1, 40, 32), np.float32)))),
        ("the recording as a plain field", build(None, extra=[Part("voice_file", "not a file")])),
        ("the latent as a plain field", build(extra=[Part("voice_latent", "not a file")])),
        ("an empty file name", build(None, extra=[Part("voice_file", REAL.wav, filename="")])),
        ("the recording twice under one name", build(extra=[_file("voice_file", REAL.wav)])),
        ("an unknown file field", build(extra=[_file("attachment", REAL.wav)])),
        (
            "a path as the file name",
            build(None, extra=[Part("voice_file", REAL.wav, filename="../../../../etc/passwd")]),
        ),
        (
            "a Windows path as the file name",
            build(None, extra=[Part("voice_file", REAL.wav, filename="..\\..\\x.wav")]),
        ),
        (
            "a file name with control characters",
            build(None, extra=[Part("voice_file", REAL.wav, filename="a\x00b\r\nX-Injected: 1.wav")]),
        ),
        ("a file name of 10 kB", build(None, extra=[Part("voice_file", REAL.wav, filename="n" * 10_000 + ".wav")])),
        (
            "a file name with a lone surrogate",
            build(None, extra=[Part("voice_file", REAL.wav, filename="\ud800.wav")]),
        ),
        (
            "a part content type of garbage",
            build(None, extra=[Part("voice_file", REAL.wav, filename="a.wav", content_type="\x7f/\x7f; ;;")]),
        ),
        ("a file of max_voice_file_size + 1 bytes", build(REAL.wav + b"\0" * (MAX_FILE + 1 - len(REAL.wav)))),
        ("a latent of max_voice_file_size + 1 bytes", build(latent=b"\x93NUMPY" + b"\0" * MAX_FILE)),
        ("a field name with a lone surrogate", build(extra=[Part("voice\ud800_file", REAL.wav, filename="a.wav")])),
        ("a field name of 10 kB", build(extra=[Part("f" * 10_000, "x")])),
    ]
    if route == SYNTHESIZE_FILE:
        cases += [
            ("no text", [p for p in build() if p.name != "text"]),
            (
                "the text as a file",
                [p for p in build() if p.name != "text"] + [_file("text", b"Hi.", "t.txt", "text/plain")],
            ),
            ("the text twice", build(extra=[Part("text", "")])),
            ("the speed as a file", build(extra=[_file("speed", b"1.0", "s.txt", "text/plain")])),
        ]
    else:
        cases += [
            ("no voice id", [p for p in build() if p.name != "voice_id"]),
            (
                "the voice id as a file",
                [p for p in build() if p.name != "voice_id"] + [_file("voice_id", b"x1", "id.txt", "text/plain")],
            ),
            ("the voice id twice", build(extra=[Part("voice_id", KNOWN)])),
            ("the name as a file", build(extra=[_file("name", b"n", "n.txt", "text/plain")])),
        ]
    return cases


@pytest.mark.parametrize("route", [SYNTHESIZE_FILE, UPLOAD])
def test_missing_doubled_and_mistyped_fields(fuzz: Fuzzer, route: str) -> None:
    failures: list[str] = []
    cases = _field_cases(route)
    for label, parts in cases:
        if route == UPLOAD:
            _send_upload(fuzz, parts, failures, label=label)
        else:
            _send_synthesize_file(fuzz, parts, failures, label=label)
    assert_none_failed(failures, len(cases))


# Form values are strings: every spelling of a number, a bool and a text a client might send.
FORM_VALUES: list[str | bytes] = [
    "",
    " ",
    "abc",
    "1.5",
    "1,5",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e999",
    "-1",
    "0",
    "-0",
    "1" * 400,
    "1" * 5000,
    "0x10",
    "1_000",
    " 1 ",
    "true",
    "on",
    "1/2",
    "\x00",
    "１",
    "١",
    "½",
    "\ud800",
    b"\xff\xfe",
    b"\xed\xa0\x80",
    "x" * 10_000,
]
SYNTHESIZE_FILE_FIELDS = ["text", "speed", "pitch", "emotion", "format", "stream", "time_step", "p_w", "t_w", "seed"]
UPLOAD_FIELDS = ["voice_id", "name", "description"]


@pytest.mark.parametrize("name", SYNTHESIZE_FILE_FIELDS)
def test_synthesize_file_fields_take_every_kind_of_value(fuzz: Fuzzer, name: str) -> None:
    """With a recording that is not audio: a value the form takes ends in 415, never in synthesis."""
    failures: list[str] = []
    for value in FORM_VALUES:
        parts = [p for p in _synthesize_file_parts(GARBAGE) if p.name != name] + [Part(name, value)]
        _send_synthesize_file(fuzz, parts, failures)
    assert_none_failed(failures, len(FORM_VALUES))


@pytest.mark.parametrize("name", UPLOAD_FIELDS)
def test_upload_fields_take_every_kind_of_value(fuzz: Fuzzer, name: str) -> None:
    failures: list[str] = []
    for value in FORM_VALUES:
        parts = [p for p in _upload_parts(GARBAGE) if p.name != name] + [Part(name, value)]
        _send_upload(fuzz, parts, failures)
    assert_none_failed(failures, len(FORM_VALUES))


def _with_charset(parts: list[Part], charset: str) -> tuple[bytes, str]:
    body, content_type = multipart(parts)
    return body, f"{content_type}; charset={charset}"


# A request charset makes the server decode form values with that codec: utf-7 and unicode_escape can
# turn ASCII bytes into lone surrogates, which then reach every text field.
SMUGGLED = {"utf-7": "+2AA-", "unicode_escape": "\\ud800", "raw_unicode_escape": "\\ud800x"}


@pytest.mark.parametrize("charset", list(SMUGGLED))
def test_lone_surrogates_smuggled_by_the_request_charset(fuzz: Fuzzer, charset: str) -> None:
    smuggled = SMUGGLED[charset]
    failures: list[str] = []
    sent = 0
    for name in ["text", "emotion", "format"]:
        parts = [p for p in _synthesize_file_parts(GARBAGE) if p.name != name] + [Part(name, smuggled)]
        collect(fuzz.post_raw(SYNTHESIZE_FILE, *_with_charset(parts, charset), label=f"{name} in {charset}"), failures)
        sent += 1
    # With a real recording, so that a surrogate in a name or description would reach the store.
    for name in ["voice_id", "name", "description"]:
        parts = [p for p in _upload_parts(REAL.wav) if p.name != name] + [Part(name, "ok " + smuggled)]
        if name == "voice_id":
            parts = [p for p in parts if p.name != "voice_id"] + [Part("voice_id", "fz" + smuggled)]
        answer = fuzz.post_raw(UPLOAD, *_with_charset(parts, charset), label=f"{name} in {charset}")
        collect(answer, failures)
        if answer.status in (201, 202):
            _accepted_voice_is_sound(fuzz, answer, failures)
        sent += 1
    # With a real recording, so that a surrogate in the text or emotion would reach the synthesis.
    for name, value in [("text", "Hi " + smuggled), ("emotion", "happy" + smuggled), ("format", "pcm" + smuggled)]:
        parts = [*(p for p in _synthesize_file_parts() if p.name != name), Part(name, value)]
        body, content_type = _with_charset(parts, charset)
        label = f"{name} in {charset}, real reference"
        collect(fuzz.post_raw(SYNTHESIZE_FILE, body, content_type, label=label, headers_only=True), failures)
        sent += 1
    assert_none_failed(failures, sent)


def test_odd_spellings_of_valid_values_with_a_real_reference(fuzz: Fuzzer) -> None:
    """Values that equal the defaults, spelled oddly: taken or refused, never a crash (one reference,
    prepared once; the speech of "Hi." is then the same cache entry)."""
    spellings = {
        "speed": ["1", " 1 ", "1.0e0", "+1", "١", "1.00000000000000000001", "2", "0.5"],
        "pitch": ["1", "1.0", " 1.0"],
        "time_step": ["32", " 32", "32.0", "1", "256"],
        "p_w": ["0", "10", "1.6"],
        "t_w": ["0", "2.5"],
        "seed": ["0", "2147483647", "00"],
        "stream": ["false", "0", "no", "off", "False", "FALSE"],
        "emotion": ["neutral", "NEUTRAL", " neutral ", "happy", "🙂"],
        "format": ["PCM", " pcm", "wav", "WAV "],
    }
    failures: list[str] = []
    sent = 0
    for name, values in spellings.items():
        for value in values:
            parts = [p for p in _synthesize_file_parts() if p.name != name] + [Part(name, value)]
            _send_synthesize_file(fuzz, parts, failures, label=f"{name}={value!r}")
            sent += 1
    assert_none_failed(failures, sent)


# ---------------------------------------------------------------------------------------------------
# Voice ids, names and descriptions

UPLOAD_IDS: list[str | bytes] = [
    "",
    " ",
    "-",
    "_",
    "-leading-dash",
    "_leading_underscore",
    "a b",
    "a.b",
    "a/b",
    "..",
    "../etc/passwd",
    "..\\windows",
    "%2e%2e",
    "a%00b",
    "a\x00b",
    "a\nb",
    "fz\n",
    "a" * 65,
    "a" * 10_000,
    "声音",
    "ｆｚ",
    "é",
    "a\u200bb",
    "\u202efz",
    "con",
    "NUL",
    "COM1",
    KNOWN,
    KNOWN.upper(),
    KNOWN + " ",
    " " + KNOWN,
    KNOWN + "\t",
    *BUILTINS,
    BUILTINS[0].upper(),
    "alloy",
]


def test_upload_voice_ids(fuzz: Fuzzer) -> None:
    """Every id with a recording that is not audio: an id the store takes is refused at the recording."""
    failures: list[str] = []
    for voice_id in UPLOAD_IDS:
        _send_upload(fuzz, _upload_parts(GARBAGE, voice_id=voice_id), failures, label=f"id {voice_id!r}"[:80])
    assert_none_failed(failures, len(UPLOAD_IDS))


def test_upload_over_existing_voices_is_refused_and_changes_nothing(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    ids = [KNOWN, *BUILTINS]
    for voice_id in ids:
        answer = _send_upload(fuzz, _upload_parts(REAL.wav, voice_id=voice_id), failures)
        if answer.status is not None and answer.status < 400:
            failures.append(f"an upload over the existing voice {voice_id!r} was accepted\n  {answer.describe()}")
    assert_none_failed(failures, len(ids))


def test_upload_ids_at_the_edges_of_valid(fuzz: Fuzzer) -> None:
    """The shortest and longest valid ids, with a real recording: stored, shown, deleted."""
    failures: list[str] = []
    ids = ["a", "Z", "0", "a" * 64, "A-b_9", "x-" * 32]
    for voice_id in ids:
        _send_upload(fuzz, _upload_parts(REAL.wav, voice_id=voice_id), failures)
    assert_none_failed(failures, len(ids))


NAMES: list[str | bytes] = [
    "\x00",
    "a\x00b",
    "\x01\x02\x1f\x7f",
    "line\r\nbreak",
    "\t",
    "n" * 200,
    "n" * 201,
    "<script>alert(1)</script>",
    "\u202eoverride",
    "\u200b",
    "😀" * 50,
    "\ud800",
    b"\xff\xfe\xfd",
    b"\xed\xa0\x80",
    "'; DROP TABLE voices; --",
    "%s%s%s%n",
    "{0}{1}",
    "null",
]
DESCRIPTIONS: list[str | bytes] = [*NAMES, "d" * 1000, "d" * 1001, "\n" * 1000, "d" * 100_000]


@pytest.mark.parametrize(("field", "values"), [("name", NAMES), ("description", DESCRIPTIONS)])
def test_upload_names_and_descriptions(fuzz: Fuzzer, field: str, values: list[str | bytes]) -> None:
    """With a real recording and a fresh id: what the store takes must show and delete cleanly."""
    failures: list[str] = []
    for value in values:
        _send_upload(fuzz, _upload_parts(REAL.wav, extra=[Part(field, value)]), failures)
    assert_none_failed(failures, len(values))


def _voice_path_cases() -> list[str]:
    """Path segments after /api/v1/voices/, exactly as sent (already percent-encoded where needed)."""
    return [
        "",
        "unknown",
        KNOWN.upper(),
        KNOWN + "%20",
        KNOWN + "%00",
        KNOWN + "/",
        KNOWN + "/extra",
        "%2F" + KNOWN,
        ".",
        "..",
        "%2e%2e",
        "..%2F..%2Fetc%2Fpasswd",
        "../" + KNOWN,
        "x/../" + KNOWN,
        "%ff",
        "%ed%a0%80",
        "%zz",
        "%",
        "a" * 65,
        "a" * 5000,
        "%E5%A3%B0%E9%9F%B3",
        "*",
        "~",
        "$(id)",
        "con",
        KNOWN + "?x=1",
        KNOWN + "#frag",
        KNOWN + ";rm",
        BUILTINS[0].upper(),
    ]


# Segments that may rightly name the known voice (a query or a fragment is not part of the id, and
# ids may be case-insensitive): sent with GET only, so that no DELETE may remove it.
_NAMES_THE_KNOWN_VOICE = {KNOWN + "?x=1", KNOWN + "#frag", KNOWN.upper()}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_voice_ids_in_paths(fuzz: Fuzzer, method: str) -> None:
    """Sent over a socket, byte for byte (an HTTP client would normalize "..")."""
    cases = [segment for segment in _voice_path_cases() if method == "GET" or segment not in _NAMES_THE_KNOWN_VOICE]
    for segment in cases:
        request = http_request(method, f"{VOICES}/{segment}", [("Connection", "close")])
        expect_raw_sane(fuzz.raw(request, route=f"{method} {VOICES}/{{id}}", label=f"{method} {segment!r}"[:90]))


def test_built_in_voices_cannot_be_deleted(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for voice_id in BUILTINS:
        answer = fuzz.send("DELETE", f"{VOICES}/{voice_id}", route=f"DELETE {VOICES}/{{id}}")
        collect(answer, failures)
        if answer.status != 403:
            failures.append(f"DELETE of the built-in {voice_id} -> {answer.status}, not 403\n  {answer.describe()}")
    assert_none_failed(failures, len(BUILTINS))


# ---------------------------------------------------------------------------------------------------
# Recordings: WAV headers with any field wrong


def _int24(samples: np.ndarray) -> bytes:
    values = (np.clip(samples, -1, 1) * (2**23 - 1)).astype("<i4")
    return b"".join(int(v).to_bytes(3, "little", signed=True) for v in values.reshape(-1))


def _wav_cases() -> list[tuple[str, bytes]]:
    rate = REAL.rate
    d16 = pcm16(REAL.samples)
    n = len(REAL.samples)
    nan_inf = np.tile(np.array([np.nan, np.inf, -np.inf, 0.5], "<f4"), n // 4).tobytes()
    fmt_stereo = chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16))
    no_fmt = b"RIFF" + struct.pack("<I", 4 + 8 + len(d16)) + b"WAVE" + chunk(b"data", d16)
    no_data = (
        b"RIFF"
        + struct.pack("<I", 4 + 24)
        + b"WAVE"
        + chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, rate, 2 * rate, 2, 16))
    )
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 2**62, 2**62, 2**62, 0))
    rf64 = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + wav(d16, rate=rate, data_size=0xFFFFFFFF)[12:]
    rifx = (
        b"RIFX"
        + struct.pack(">I", 36 + len(d16))
        + b"WAVEfmt "
        + struct.pack(">IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
        + b"data"
        + struct.pack(">I", len(d16))
        + np.frombuffer(d16, "<i2").astype(">i2").tobytes()
    )
    eight_bit = ((np.clip(REAL.samples[:, 0], -1, 1) * 127) + 128).astype("u1").tobytes()
    long_8k = ((np.clip(REAL.at(8000, seconds=301.0)[:, 0], -1, 1) * 127) + 128).astype("u1").tobytes()
    return [
        ("bits per sample 0", wav(d16, rate=rate, bits=0, block_align=2, byte_rate=32000)),
        ("bits per sample 1", wav(d16, rate=rate, bits=1)),
        ("bits per sample 7", wav(d16, rate=rate, bits=7, block_align=1)),
        ("bits per sample 12", wav(d16, rate=rate, bits=12, block_align=2)),
        ("bits per sample 40", wav(d16, rate=rate, bits=40)),
        ("bits per sample 65535", wav(d16, rate=rate, bits=65535, block_align=2, byte_rate=32000)),
        ("format tag 3 (float) over 16-bit data", wav(d16, rate=rate, tag=3, bits=16)),
        ("format tag 3 with NaN and Inf samples", wav(nan_inf, rate=rate, tag=3, bits=32)),
        ("format tag 3 with 3e38 samples", wav(np.full(n, 3e38, "<f4").tobytes(), rate=rate, tag=3, bits=32)),
        ("float64 speech", wav(REAL.samples.astype("<f8").tobytes(), rate=rate, tag=3, bits=64)),
        ("format tag 0", wav(d16, rate=rate, tag=0)),
        ("format tag 2 (MS ADPCM) without its coefficients", wav(d16, rate=rate, tag=2, bits=4, block_align=256)),
        (
            "format tag 0x11 (IMA ADPCM) over noise",
            wav(RNG.bytes(32_000), rate=rate, tag=0x11, bits=4, block_align=256, fmt_extra=b"\x02\x00\xf9\x01"),
        ),
        ("format tag 0x55 (MP3) over noise", wav(RNG.bytes(32_000), rate=rate, tag=0x55, bits=0, block_align=1)),
        ("format tag 0x31 (GSM) over speech", wav(d16, rate=rate, tag=0x31, bits=0, block_align=65)),
        ("format tag 6 (A-law) over 16-bit data", wav(d16, rate=rate, tag=6, bits=8, block_align=1)),
        ("format tag 7 (mu-law) over 16-bit data", wav(d16, rate=rate, tag=7, bits=8, block_align=1)),
        ("unknown format tag 0x1234", wav(d16, rate=rate, tag=0x1234)),
        ("unknown format tag 0xFFFF", wav(d16, rate=rate, tag=0xFFFF)),
        (
            "extensible with a zero sub-format",
            wav(d16, rate=rate, tag=0xFFFE, fmt_extra=struct.pack("<HHI", 22, 16, 4) + b"\0" * 16),
        ),
        ("extensible without its extension", wav(d16, rate=rate, tag=0xFFFE)),
        ("0 channels", wav(d16, rate=rate, channels=0)),
        ("7 channels of speech", wav(pcm16(REAL.at(channels=7)), rate=rate, channels=7)),
        ("7 channels declared over mono data", wav(d16, rate=rate, channels=7, block_align=14)),
        ("65535 channels", wav(d16, rate=rate, channels=65535)),
        ("sample rate 0", wav(d16, rate=0)),
        ("sample rate 1", wav(d16, rate=1)),
        ("sample rate 4 GHz", wav(d16, rate=0xFFFFFFFF)),
        ("block align 0", wav(d16, rate=rate, block_align=0)),
        ("block align 65535", wav(d16, rate=rate, block_align=65535)),
        ("byte rate 0", wav(d16, rate=rate, byte_rate=0)),
        ("data size 4 GB", wav(d16, rate=rate, data_size=0xFFFFFFFF)),
        ("data size 2 GB", wav(d16, rate=rate, data_size=0x7FFFFFF0)),
        ("data size 0", wav(d16, rate=rate, data_size=0)),
        ("data size odd", wav(d16, rate=rate, data_size=len(d16) - 1)),
        ("RIFF size 0", wav(d16, rate=rate, riff_size=0)),
        ("RIFF size 4 GB", wav(d16, rate=rate, riff_size=0xFFFFFFFF)),
        ("RIFF header only", b"RIFF\x24\x00\x00\x00WAVE"),
        ("RIFF magic only", b"RIFF"),
        ("header only, no samples", wav(b"")),
        ("cut inside the fmt chunk", wav(d16, rate=rate)[:30]),
        ("cut inside a sample", wav(d16, rate=rate)[:-1]),
        ("fmt chunk size 4 GB", wav(d16, rate=rate, fmt_size=0xFFFFFFF0)),
        ("fmt chunk size 2", wav(d16, rate=rate, fmt_size=2)),
        ("fmt chunk size 0", wav(d16, rate=rate, fmt_size=0)),
        (
            "a LIST chunk declaring 4 GB before the data",
            wav(d16, rate=rate, before_data=chunk(b"LIST", b"INFO", declared=0xFFFFFFF0)),
        ),
        ("a chunk of odd size before the data", wav(d16, rate=rate, before_data=chunk(b"junk", b"abc"))),
        ("a thousand empty chunks before the data", wav(d16, rate=rate, before_data=chunk(b"junk", b"") * 1000)),
        ("data before fmt", wav(d16, rate=rate, data_first=True)),
        ("two fmt chunks that disagree", wav(d16, rate=rate, before_data=fmt_stereo)),
        ("no fmt chunk", no_fmt),
        ("no data chunk", no_data),
        ("RF64 declaring 2**62 samples", rf64),
        ("RF64 without ds64", wav(d16, rate=rate, riff=b"RF64", riff_size=0xFFFFFFFF, data_size=0xFFFFFFFF)),
        ("RIFX (big-endian)", rifx),
        ("WAVE id wrong", wav(d16, rate=rate, wave=b"WAVX")),
        ("8-bit speech", wav(eight_bit, rate=rate, bits=8)),
        ("24-bit speech", wav(_int24(REAL.samples), rate=rate, bits=24)),
        ("96 kHz speech", wav(pcm16(REAL.at(96_000)), rate=96_000)),
        ("8 kHz speech", wav(pcm16(REAL.at(8_000)), rate=8_000)),
        ("301 s at 8 kHz, 8-bit (over max_voice_seconds)", wav(long_8k, rate=8000, bits=8)),
        ("0.5 s of speech (too short)", wav(pcm16(REAL.at(seconds=0.5)), rate=rate)),
        ("one sample", wav(b"\x01\x00", rate=rate)),
        ("2 s of digital silence", wav(b"\0" * 4 * rate, rate=rate)),
        ("2 s of white noise", wav(pcm16(RNG.uniform(-0.5, 0.5, 2 * rate)), rate=rate)),
        ("2 s of full-scale DC", wav(np.full(2 * rate, 32767, "<i2").tobytes(), rate=rate)),
        (
            "2 s of a full-scale square wave",
            wav(np.tile(np.array([32767] * 40 + [-32768] * 40, "<i2"), 600).tobytes(), rate=rate),
        ),
        ("speech then 50 kB of noise", wav(d16, rate=rate) + RNG.bytes(50_000)),
        ("two WAVs one after the other", wav(d16, rate=rate) + wav(d16, rate=rate)),
    ]


def test_wav_headers(fuzz: Fuzzer) -> None:
    _to_both_routes(fuzz, [(label, {"audio": data}) for label, data in _wav_cases()], "WAV:", one_shot_every=2)


def test_wav_headers_under_the_platforms_field_name(fuzz: Fuzzer) -> None:
    """The same recordings as audio_file (the AI-Sound backend's name), a sample of them."""
    cases = [(label, {"audio": data, "audio_field": "audio_file"}) for label, data in _wav_cases()[1::6]]
    _to_both_routes(fuzz, cases, "WAV as audio_file:")


# ---------------------------------------------------------------------------------------------------
# Recordings: other containers, cut or faked, and files that are not audio


def _container_cases() -> list[tuple[str, bytes]]:
    mono = REAL.samples[:, 0]
    mp3, flac, m4a, ogg = (encode(mono, REAL.rate, kind) for kind in ("mp3", "flac", "m4a", "ogg"))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("ref.wav", REAL.wav)
    syncsafe_256mb = bytes([0x7F, 0x7F, 0x7F, 0x7F])
    return [
        ("1 kB of random bytes", RNG.bytes(1024)),
        ("4 kB of zeros", b"\0" * 4096),
        ("one byte", b"\x00"),
        ("an ID3 tag and nothing else", b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\0" * 10),
        ("an ID3 tag declaring 256 MB", b"ID3\x04\x00\x00" + syncsafe_256mb + RNG.bytes(1024)),
        ("mp3 frame headers over noise", (b"\xff\xfb\x90\x64" + RNG.bytes(413)) * 20),
        ("mp3 cut at 30 %", mp3[: len(mp3) * 3 // 10]),
        ("mp3 with its middle zeroed", mp3[:1000] + b"\0" * (len(mp3) - 2000) + mp3[-1000:]),
        ("mp3 header then a WAV", mp3[:200] + REAL.wav),
        ("a flac marker only", b"fLaC"),
        ("flac cut at 40 %", flac[: len(flac) * 4 // 10]),
        ("flac with its STREAMINFO zeroed", flac[:8] + b"\0" * 34 + flac[42:]),
        ("m4a cut in half", m4a[: len(m4a) // 2]),
        ("m4a without its first 100 bytes", m4a[100:]),
        ("an ogg page marker over noise", b"OggS" + RNG.bytes(2000)),
        ("ogg opus cut at 50 %", ogg[: len(ogg) // 2]),
        (
            "webm opus (not a supported format)",
            encode_as(
                np.interp(np.arange(0, len(mono), 1 / 3), np.arange(len(mono)), mono).astype(np.float32),
                48_000,
                "webm",
                "libopus",
            ),
        ),
        ("aiff (not a supported format)", encode_as(mono, REAL.rate, "aiff", "pcm_s16be")),
        ("au (not a supported format)", encode_as(mono, REAL.rate, "au", "pcm_s16be")),
        (
            "an HLS playlist naming a URL",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:9/a.wav\n#EXT-X-ENDLIST\n",
        ),
        ("an ffconcat script naming a file", b"ffconcat version 1.0\nfile '/etc/passwd'\n"),
        ("an SDP file", b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 9 RTP/AVP 0\n"),
        ("text", b"hello world\n" * 100),
        ("JSON", b'{"audio": "wav", "samples": [1, 2, 3]}'),
        ("HTML", b"<html><body><audio src='x.wav'></audio></body></html>"),
        ("a PNG header", b"\x89PNG\r\n\x1a\n" + RNG.bytes(500)),
        ("a zip holding a WAV", zipped.getvalue()),
        ("a gzipped WAV", gzip.compress(REAL.wav)),
        ("an ELF header", b"\x7fELF\x02\x01\x01" + b"\0" * 200),
        ("an .npy file", npy_of(np.zeros((1, 40, 32), np.float32))),
        ("a UTF-16 text", "not audio".encode("utf-16")),
    ]


def test_other_containers_and_files_that_are_not_audio(fuzz: Fuzzer) -> None:
    _to_both_routes(fuzz, [(label, {"audio": data}) for label, data in _container_cases()], "file:")


# ---------------------------------------------------------------------------------------------------
# Latents (.npy) with malformed headers


def _latent_cases() -> list[tuple[str, bytes]]:
    f4 = np.zeros((1, 40, 32), "<f4")
    data = f4.tobytes()
    header = npy_header("<f4", (1, 40, 32))
    npz = io.BytesIO()
    np.savez(npz, latent=f4)
    return [
        ("empty", b""),
        ("random bytes", RNG.bytes(500)),
        ("the magic only", b"\x93NUMPY"),
        ("the magic and a version only", b"\x93NUMPY\x01\x00"),
        ("version 9.9", npy(header, data, version=(9, 9))),
        ("version 0.0", npy(header, data, version=(0, 0))),
        ("a header length past the end", npy(header, data, header_len=60_000)),
        ("a header length of 0", npy(header, data, header_len=0)),
        ("a header that is a list", npy("[1, 2, 3]", data)),
        ("a header that calls a function", npy("__import__('os').system('true')", data)),
        ("a header without a shape", npy("{'descr': '<f4', 'fortran_order': False}", data)),
        (
            "a header with an extra key",
            npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 40, 32), 'x': 1}", data),
        ),
        ("a header of 100 kB", npy(header + " " * 100_000, data, version=(2, 0))),
        (
            "a header that is not latin-1 text",
            npy(b"{'descr': '\xff\xfe', 'fortran_order': False, 'shape': (1,)}", data),
        ),
        ("version 3.0", npy(header, data, version=(3, 0))),
        ("an object array (pickle inside)", npy_of(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)),
        ("a plain pickle", pickle.dumps({"latent": [1.0, 2.0]})),
        ("a pickle that would run a command", b"cos\nsystem\n(S'true'\ntR."),
        ("unicode strings", npy_of(np.array(["abc"] * 32))),
        ("void items", npy(npy_header("|V16", (1, 40)), bytes(640))),
        ("a structured dtype", npy_of(np.zeros((1, 40), dtype=[("a", "<f4"), ("b", "<i4")]))),
        ("complex64", npy_of(np.zeros((1, 40, 32), np.complex64))),
        ("bool", npy_of(np.zeros((1, 40, 32), bool))),
        ("datetime64", npy_of(np.zeros((1, 40, 32), "datetime64[s]"))),
        ("float16", npy_of(np.zeros((1, 40, 32), np.float16))),
        ("float64", npy_of(np.zeros((1, 40, 32), np.float64))),
        ("int8", npy_of(np.zeros((1, 40, 32), np.int8))),
        ("uint64 at its maximum", npy_of(np.full((1, 40, 32), 2**64 - 1, np.uint64))),
        ("float64 past float32", npy_of(np.full((1, 40, 32), 1e300))),
        ("big-endian", npy_of(np.zeros((1, 40, 32), ">f4"))),
        ("Fortran order", npy(npy_header("<f4", (1, 40, 32), fortran_order=True), data)),
        ("shape (1, 10**12, 32)", npy(npy_header("<f4", (1, 10**12, 32)), data)),
        ("shape (1, 10**9, 1)", npy(npy_header("<f4", (1, 10**9, 1)), data)),
        ("shape (10**10, 10**10)", npy(npy_header("<f4", (10**10, 10**10)), data)),
        ("shape past int64", npy(npy_header("<f4", (2**62, 2**62, 4)), data)),
        ("a negative dimension", npy(npy_header("<f4", (-1, 32)), data)),
        ("a text dimension", npy("{'descr': '<f4', 'fortran_order': False, 'shape': ('a', 32), }", data)),
        ("a float dimension", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 32), }", data)),
        ("7 channels", npy_of(np.zeros((1, 40, 7), "<f4"))),
        ("0-d", npy_of(np.float32(1.0))),
        ("1-d", npy_of(np.zeros(32, "<f4"))),
        ("4-d", npy_of(np.zeros((1, 1, 40, 32), "<f4"))),
        ("no frames", npy_of(np.zeros((1, 0, 32), "<f4"))),
        ("NaN values", npy_of(np.full((1, 40, 32), np.nan, "<f4"))),
        ("infinite values", npy_of(np.full((1, 40, 32), np.inf, "<f4"))),
        ("data shorter than the shape", npy(header, data[:100])),
        ("data longer than the shape", npy(header, data + b"\0" * 1000)),
        ("15000 frames (the largest accepted)", npy_of(np.zeros((1, 15_000, 32), "<f4"))),
        ("15001 frames", npy_of(np.zeros((1, 15_001, 32), "<f4"))),
        ("an npz archive", npz.getvalue()),
        ("a WAV", REAL.wav),
        ("an item size of 1 GB", npy(npy_header("|V1000000000", (1,)), b"")),
        ("a dtype that does not exist", npy(npy_header("<q9", (1, 40, 32)), data)),
        ("a dtype given as bytes", npy("{'descr': b'<f4', 'fortran_order': False, 'shape': (1, 40, 32), }", data)),
    ]


def test_latent_files(fuzz: Fuzzer) -> None:
    cases = [(label, {"latent": data}) for label, data in _latent_cases()]
    _to_both_routes(fuzz, cases, "latent:")


def test_latent_files_under_the_guides_field_name(fuzz: Fuzzer) -> None:
    cases = [(label, {"latent": data, "latent_field": "voice_latent"}) for label, data in _latent_cases()[::5]]
    _to_both_routes(fuzz, cases, "latent as voice_latent:")


# ---------------------------------------------------------------------------------------------------
# Property-based


def test_generated_synthesize_file_forms(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    values = st.text(max_size=12) | st.sampled_from(["1", "1.0", "0.5", "2", "true", "NaN", "1e999", ""])
    form = st.dictionaries(st.sampled_from([*SYNTHESIZE_FILE_FIELDS, "voice_id", "extra"]), values, max_size=8)

    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(form=form, audio_field=st.sampled_from(["voice_file", "audio_file", "other"]))
    def run(form: dict[str, str], audio_field: str) -> None:
        nonlocal sent
        sent += 1
        parts = [Part(name, value) for name, value in form.items()] + [_file(audio_field, GARBAGE)]
        _send_synthesize_file(fuzz, parts, failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_upload_forms(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    ids = st.text(max_size=70) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,70}", fullmatch=True)

    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(voice_id=ids, name=st.text(max_size=210), description=st.text(max_size=40))
    def run(voice_id: str, name: str, description: str) -> None:
        nonlocal sent
        sent += 1
        extra = [Part("name", name), Part("description", description)]
        _send_upload(fuzz, _upload_parts(GARBAGE, voice_id=voice_id, extra=extra), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_wav_headers(fuzz: Fuzzer) -> None:
    """Random header fields over two seconds of real speech samples, uploaded (stored ones deleted)."""
    failures: list[str] = []
    sent = 0
    d16 = pcm16(REAL.samples)
    u16 = st.integers(0, 0xFFFF)
    u32 = st.integers(0, 0xFFFFFFFF)
    near = st.sampled_from

    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(
        tag=near([1, 3, 6, 7, 0xFFFE]) | u16,
        channels=near([1, 2]) | u16,
        rate=near([8000, 16000, 24000, 44100]) | u32,
        bits=near([8, 16, 24, 32]) | u16,
        byte_rate=st.none() | u32,
        block_align=st.none() | u16,
        data_size=st.none() | u32,
        cut=st.integers(0, 100),
    )
    def run(tag: int, channels: int, rate: int, bits: int, byte_rate, block_align, data_size, cut: int) -> None:
        nonlocal sent
        sent += 1
        data = wav(
            d16,
            tag=tag,
            channels=channels,
            rate=rate,
            bits=bits,
            byte_rate=byte_rate,
            block_align=block_align,
            data_size=data_size,
        )
        data = data[: max(1, len(data) * (100 - cut) // 100)] if cut > 80 else data
        _send_upload(fuzz, _upload_parts(data), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_latent_headers(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    dims = st.integers(-2, 50) | st.sampled_from([10**9, 10**12, 2**31, 2**63 - 1, 15_000, 15_001])
    descr = st.sampled_from(
        ["<f4", ">f4", "<f8", "<f2", "|i1", "<u8", "|b1", "<c8", "|O", "<U4", "|V8", "<M8[s]", "?", "<f4 "]
    )

    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(
        descr=descr,
        shape=st.lists(dims, max_size=5).map(tuple),
        fortran=st.booleans(),
        payload=st.integers(0, 6000),
        version=st.sampled_from([(1, 0), (2, 0), (3, 0)]),
    )
    def run(descr: str, shape: tuple[int, ...], fortran: bool, payload: int, version: tuple[int, int]) -> None:
        nonlocal sent
        sent += 1
        latent = npy(npy_header(descr, shape, fortran), RNG.bytes(payload), version=version)
        _send_synthesize_file(fuzz, _synthesize_file_parts(latent=latent), failures)

    run()
    assert_none_failed(failures, sent)


def test_server_survived(fuzz: Fuzzer) -> None:
    server: ServerProcess = fuzz.server
    assert server.process is not None and server.process.poll() is None, server.console()[-3000:]
    assert fuzz.healthy()
    expect_sane(fuzz.send("GET", f"{VOICES}/{KNOWN}", count=False))
