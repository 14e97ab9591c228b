"""Fuzzing the JSON routes: POST /api/v1/tts/synthesize and the OpenAI-compatible POST /v1/audio/speech.

Every field gets values of every wrong kind, raw JSON literals no encoder writes (NaN, 1e999, lone
surrogates, numbers of thousands of digits), bodies that are not JSON or not the right JSON, and texts
that are hard to read aloud (numbers of 300-1000 digits, scripts the engine does not speak, texts that
multiply when read). The contract is tests/support/malformed.py's: never 5xx, the documented error body
for every 4xx, an answer within the client's timeout.

Synthesis is kept small: cases are built on one short text ("Hi.") whose audio the cache then serves;
texts that could be long to speak are sent as streams and the connection closed once the status is
known (the server cancels the rest), except the few ``fuzz_slow`` ones that must be answered whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.malformed import (
    FUZZ_SETTINGS,
    Answer,
    Fuzzer,
    assert_none_failed,
    collect,
    expect_sane,
    slow_timeout,
    with_raw,
)
from tests.support.server import ServerProcess, running_server

SYNTHESIZE = "/api/v1/tts/synthesize"
SPEECH = "/v1/audio/speech"
# The audio of "Hi." as WAV at speed 1, in voice_001 and in alloy (af_alloy): cached before the cases.
BASE_SYNTHESIZE: dict[str, Any] = {"text": "Hi.", "voice_id": "voice_001"}
BASE_SPEECH: dict[str, Any] = {
    "model": "tts-1",
    "input": "Hi.",
    "voice": "alloy",
    "response_format": "wav",
    "stream": False,
}
BASES = {SYNTHESIZE: BASE_SYNTHESIZE, SPEECH: BASE_SPEECH}
TEXT_FIELD = {SYNTHESIZE: "text", SPEECH: "input"}

SYNTHESIZE_FIELDS = [
    "text",
    "voice_id",
    "format",
    "stream",
    "parameters",
    "parameters.speed",
    "parameters.pitch",
    "parameters.emotion",
    "parameters.time_step",
    "parameters.p_w",
    "parameters.t_w",
    "parameters.seed",
]
SPEECH_FIELDS = ["model", "input", "voice", "response_format", "speed", "instructions", "stream_format", "stream"]
ROUTE_FIELDS = [(SYNTHESIZE, name) for name in SYNTHESIZE_FIELDS] + [(SPEECH, name) for name in SPEECH_FIELDS]
NUMERIC_FIELDS = [
    (SYNTHESIZE, name)
    for name in (
        "parameters.speed",
        "parameters.pitch",
        "parameters.time_step",
        "parameters.p_w",
        "parameters.t_w",
        "parameters.seed",
        "stream",
    )
] + [(SPEECH, "speed"), (SPEECH, "stream")]
STRING_FIELDS = [(SYNTHESIZE, name) for name in ("text", "voice_id", "format", "parameters.emotion")] + [
    (SPEECH, name) for name in ("model", "input", "voice", "response_format", "instructions", "stream_format")
]

# A value of every JSON kind, for every field: most are refused, the rest are served from the cache.
WRONG_KINDS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    "",
    " ",
    "1.5",
    "abc",
    "\x00",
    [],
    [1],
    {},
    {"a": 1},
    "x" * 5000,
]

# Raw JSON text where a number (or a bool) belongs: literals Python's json reads but JSON forbids,
# numbers past float and past Python's int conversion limit, and things that are not JSON at all.
RAW_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1E400",
    "-0",
    "-0.0",
    "1" + "0" * 400,
    "1" + "0" * 5000,
    "0." + "0" * 400 + "1",
    "1.0000000000000000000000001",
    "2.0000000000000001",
    "0x10",
    "01",
    ".5",
    "+1",
    "1.",
    "1e",
    "--1",
    "1_0",
    '"1"',
    '"NaN"',
    "[1.0]",
]

# Lone surrogates and other code points that are not characters, as JSON escapes.
SURROGATE_STRINGS = [
    r'"\ud800"',
    r'"hello \ud800 world"',
    r'"\udfff"',
    r'"\ud83d"',
    r'"\ude00\ud83d"',
    r'"a\ud800\ud800b"',
    r'"\u0000"',
    r'"\ufffe\uffff"',
]

VOICE_IDS: list[Any] = [
    "",
    " ",
    "VOICE_001",
    "Voice_001",
    "voice_001 ",
    " voice_001",
    "voice_001\n",
    "voice_001\x00",
    "voice_001/../voice_002",
    "../etc/passwd",
    "..",
    ".",
    "/",
    "\\..\\..\\windows\\win.ini",
    "%2e%2e%2f",
    "voice_001%00",
    "voice_001.wav",
    "a" * 64,
    "a" * 65,
    "a" * 10_000,
    "声音一号",
    "\u202evoice_001",
    "voice\u200b_001",
    "ｖｏｉｃｅ＿００１",
    "con",
    "NUL",
    "*",
    "$(id)",
    "'; DROP TABLE voices; --",
    None,
    1,
    ["voice_001"],
    {"id": "voice_001"},
]

# Numbers far past what a float holds, in every form the normalizer spells out.
BIG_NUMBERS = [
    "9" * 307,
    "9" * 309,
    "1" * 400,
    "9" * 999,
    "$" + "9" * 400,
    "$" + "9" * 309 + ".99",
    "€" + "9" * 309,
    "-" + "9" * 309,
    "9" * 400 + "%",
    "9" * 308 + ".5%",
    "1" * 400 + "th",
    "1" * 400 + "st place",
    "0." + "1" * 400,
    "9" * 308 + ".5",
    ",".join(["999"] * 103),
    "$" + ",".join(["999"] * 103) + " million",
    "9" * 309 + "km",
    "9" * 309 + "-" + "9" * 309,
    "1/" + "9" * 309,
    "No. " + "9" * 309,
    "in " + "9" * 309,
    "我有" + "9" * 400 + "个苹果",
    "第" + "1" * 309 + "名",
    "价格是¥" + "9" * 309 + "元",
    "增长了" + "9" * 309 + "%",
    "圆周率是3." + "1" * 400,
    "总共" + ",".join(["999"] * 103) + "人",
    "温度是" + "9" * 309 + "°C",
]

# Texts in scripts the engine does not speak, and texts with nothing speakable in them.
SCRIPT_TEXTS = [
    "สวัสดีครับ",
    "ภาษาไทยเท่านั้น",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "안녕하세요",
    "こんにちは",
    "Привет мир",
    "Γειά σου",
    "😀😀😀",
    "∑∫√∞≠",
    "Z̷̢̧a̸l̵g̶o̴",
    "\u202eHello\u202c",
    "\u200b\u200b\u200b",
    "\x01\x02\x03",
    "\t\r\n\f\v",
    "。。。！！！",
    "...",
    "~~~@@@###",
    "\ufeff",
    "e\u0301" * 15,
    "Hi.\x00there",
    " " * 3000 + "Hi." + " " * 3000,
    "\n" * 2000 + "Hi.",
    "中" * 1001,
    "a" * 1001,
]

# Texts under max_length that multiply when read: they may be refused (413/422) or spoken, never 5xx
# and never a hang; they can take up to api.timeout, hence their own client timeout and marker.
MULTIPLYING_TEXTS = {
    "phone number of 900 digits": "我的电话是" + "1" * 900,
    "500 lines of one letter": "\n".join(["a"] * 500),
    "499 numbers": "1 " * 499,
}


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Fuzzer]:
    with running_server(tmp_path_factory.mktemp("fuzz-json"), model_cache) as server:
        api_timeout = yaml.safe_load(server.api_config.read_text())["api"]["timeout"]
        fuzzer = Fuzzer(server.base_url, module="json", server=server, api_timeout=api_timeout)
        # Warm the cache with the audio the base bodies ask for.
        expect_sane(fuzzer.post_json(SYNTHESIZE, BASE_SYNTHESIZE))
        expect_sane(fuzzer.post_json(SPEECH, BASE_SPEECH))
        try:
            yield fuzzer
        finally:
            fuzzer.close()


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    target = body
    keys = path.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return body


def _run(fuzz: Fuzzer, sends: list[tuple[str, Any]]) -> None:
    """Send each (route, body-or-bytes) and report every answer that breaks the contract."""
    failures: list[str] = []
    for route, body in sends:
        if isinstance(body, bytes):
            collect(fuzz.post_raw(route, body), failures)
        else:
            collect(fuzz.post_json(route, body), failures)
    assert_none_failed(failures, len(sends))


def _probe_stream(fuzz: Fuzzer, text: str, *, label: str = "") -> Answer:
    """A text sent as a stream, read until its status: an error is answered before any audio, and
    closing the connection then cancels the synthesis (texts that would take long to speak)."""
    body = {"text": text, "voice_id": "voice_001", "format": "pcm", "stream": True}
    return fuzz.send("POST", SYNTHESIZE, route=f"POST {SYNTHESIZE} (stream)", json=body, headers_only=True, label=label)


# ---------------------------------------------------------------------------------------------------
# Every field, every kind of value


@pytest.mark.parametrize(("route", "field"), ROUTE_FIELDS, ids=[f"{r}:{f}" for r, f in ROUTE_FIELDS])
def test_every_field_takes_every_kind_of_value(fuzz: Fuzzer, route: str, field: str) -> None:
    _run(fuzz, [(route, _set(BASES[route], field, value)) for value in WRONG_KINDS])


@pytest.mark.parametrize(("route", "field"), NUMERIC_FIELDS, ids=[f"{r}:{f}" for r, f in NUMERIC_FIELDS])
def test_numbers_as_raw_json_literals(fuzz: Fuzzer, route: str, field: str) -> None:
    _run(fuzz, [(route, with_raw(BASES[route], field, raw)) for raw in RAW_NUMBERS])


@pytest.mark.parametrize(("route", "field"), STRING_FIELDS, ids=[f"{r}:{f}" for r, f in STRING_FIELDS])
def test_lone_surrogates_in_strings(fuzz: Fuzzer, route: str, field: str) -> None:
    _run(fuzz, [(route, with_raw(BASES[route], field, raw)) for raw in SURROGATE_STRINGS])


def test_lone_surrogates_in_keys(fuzz: Fuzzer) -> None:
    raw = [
        (SYNTHESIZE, rb'{"te\ud800xt": "Hi."}'),
        (SYNTHESIZE, rb'{"text": "Hi.", "\ud800": 1}'),
        (SYNTHESIZE, rb'{"text": "Hi.", "parameters": {"\udfff": 1}}'),
        (SYNTHESIZE, rb'{"text": "Hi.", "parameters": {"speed": {"\ud800": 1}}}'),
        (SYNTHESIZE, rb'{"text": "Hi.", "extra \ud800 field": "\ud800"}'),
        (SPEECH, rb'{"model": "tts-1", "input": "Hi.", "voice": "alloy", "\ud800": 1, "stream": false}'),
        (SPEECH, rb'{"\ud800": "tts-1"}'),
        (SPEECH, rb'{"model": "tts-1", "input": "Hi.", "voice": {"\ud800": 1}}'),
    ]
    _run(fuzz, raw)


@pytest.mark.parametrize("route", [SYNTHESIZE, SPEECH])
def test_bytes_that_are_not_utf8(fuzz: Fuzzer, route: str) -> None:
    text = json.dumps(BASES[route])
    sends = [
        (route, text.replace("Hi.", "Hi \udcff").encode("utf-8", "surrogateescape")),  # a lone \xff byte
        (route, text.replace("Hi.", "\ud800").encode("utf-8", "surrogatepass")),  # CESU-8 surrogate bytes
        (route, text.encode().replace(b"Hi.", b"\xc0\xaf")),  # an overlong encoding
        (route, b"\xef\xbb\xbf" + text.encode()),  # a UTF-8 byte order mark
        (route, text.encode("utf-16")),
        (route, text.encode("utf-32-le")),
        (route, text.encode("latin-1", "replace").replace(b"Hi.", b"H\xe9.")),
    ]
    _run(fuzz, sends)


# ---------------------------------------------------------------------------------------------------
# Bodies that are not the right JSON, or not JSON at all


def _bodies(route: str) -> list[tuple[str, bytes | None, str | None]]:
    """(label, body, content type) for ``route``; None body: no body at all."""
    valid = json.dumps(BASES[route]).encode()
    deep_array = b"[" * 10_000 + b"]" * 10_000
    deep_object = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    deep_in_field = valid[:-1] + b', "parameters": ' + deep_object + b"}"
    return [
        ("no body", None, "application/json"),
        ("empty body", b"", "application/json"),
        ("whitespace", b"   \n\t ", "application/json"),
        ("null", b"null", "application/json"),
        ("array", b"[]", "application/json"),
        ("array of the body", b"[" + valid + b"]", "application/json"),
        ("empty object", b"{}", "application/json"),
        ("string", b'"Hi."', "application/json"),
        ("number", b"1", "application/json"),
        ("true", b"true", "application/json"),
        ("an opening brace", b"{", "application/json"),
        ("truncated", valid[: len(valid) // 2], "application/json"),
        ("truncated in a string", valid[: valid.index(b"Hi") + 1], "application/json"),
        ("trailing garbage", valid + b" garbage", "application/json"),
        ("two objects", valid + valid, "application/json"),
        ("duplicate keys, empty last", valid[:-1] + b', "' + TEXT_FIELD[route].encode() + b'": ""}', None),
        ("duplicate keys, valid last", b'{"' + TEXT_FIELD[route].encode() + b'": 0, ' + valid[1:], None),
        ("single quotes", valid.replace(b'"', b"'"), "application/json"),
        ("a comment", b"// comment\n" + valid, "application/json"),
        ("a trailing comma", valid[:-1] + b",}", "application/json"),
        ("NUL bytes", valid + b"\x00" * 10, "application/json"),
        ("10k nested arrays", deep_array, "application/json"),
        ("10k nested objects", deep_object, "application/json"),
        ("10k nested objects in a field", deep_in_field, "application/json"),
        ("100k nested arrays", b"[" * 100_000 + b"]" * 100_000, "application/json"),
        ("10 MB text", json.dumps({**BASES[route], TEXT_FIELD[route]: "a" * 10_000_000}).encode(), None),
        ("10 MB of an extra field", valid[:-1] + b', "padding": "' + b"x" * 10_000_000 + b'"}', None),
        ("10 MB of whitespace", b" " * 10_000_000 + valid, None),
        ("a million numbers", b'{"text": [' + b"1," * 1_000_000 + b"1]}", None),
        ("a very long key", valid[:-1] + b', "' + b"k" * 100_000 + b'": 1}', None),
        ("as text/plain", valid, "text/plain"),
        ("as a form", b"text=Hi.&voice_id=voice_001", "application/x-www-form-urlencoded"),
        (
            "as multipart",
            b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nHi.\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        ("without a content type", valid, ""),
        ("a content type with a bad charset", valid, "application/json; charset=no-such-charset"),
        ("a latin-1 charset", valid.replace(b"Hi.", b"H\xe9."), "application/json; charset=latin-1"),
        ("a utf-16 charset", json.dumps(BASES[route]).encode("utf-16"), "application/json; charset=utf-16"),
        ("a +json type", valid, "application/merge-patch+json"),
        ("a broken content type", valid, "application/json; ===; charset"),
        ("a content type of 10 kB", valid, "application/json; x=" + "a" * 10_000),
    ]


@pytest.mark.parametrize("route", [SYNTHESIZE, SPEECH])
def test_bodies_that_are_not_the_right_json(fuzz: Fuzzer, route: str) -> None:
    failures: list[str] = []
    cases = _bodies(route)
    for label, body, content_type in cases:
        if body is None:
            answer = fuzz.send(
                "POST", route, route=f"POST {route}", label=label, headers={"Content-Type": content_type}
            )
        else:
            answer = fuzz.post_raw(route, body, content_type or "application/json", label=label)
        collect(answer, failures)
    assert_none_failed(failures, len(cases))


# ---------------------------------------------------------------------------------------------------
# Voices, models, formats


@pytest.mark.parametrize(("route", "field"), [(SYNTHESIZE, "voice_id"), (SPEECH, "voice")])
def test_voice_ids(fuzz: Fuzzer, route: str, field: str) -> None:
    values = [*VOICE_IDS, *(["ALLOY", "alloy ", "Alloy", "nova\x00"] if route == SPEECH else [])]
    _run(fuzz, [(route, _set(BASES[route], field, value)) for value in values])


def test_openai_models_formats_and_stream_formats(fuzz: Fuzzer) -> None:
    values = {
        "model": ["TTS-1", "tts-1 ", "gpt-4", "whisper-1", "megatts3\x00", "../tts-1", "m" * 1000],
        "response_format": ["MP3", " wav", "wav ", "WAV", "exe", "mp4", "ogg", "wav;", "../wav", "f" * 1000],
        "stream_format": ["SSE", "Audio", "audio ", "websocket", "s" * 1000],
        "speed": [0.25, 4.0, 0.2499, 4.0001, 0, -0.5, 100],
        "instructions": ["", "Speak happily.", "i" * 100_000],
    }
    _run(fuzz, [(SPEECH, _set(BASE_SPEECH, name, value)) for name, options in values.items() for value in options])


def test_synthesize_formats_and_parameter_ranges(fuzz: Fuzzer) -> None:
    values = {
        "format": ["WAV", " wav", "wav ", "Wav", "opus ", "mp4", "m4a", "webm", "exe", "../wav", "wav\x00", "f" * 1000],
        "parameters.speed": [0.5, 2.0, 0.4999, 2.0001, 0, -1, 1e-300],
        "parameters.pitch": [0.4999, 2.0001, 0, -1],
        "parameters.time_step": [0, 257, -1, 2**31, 2**63, 2**64],
        "parameters.p_w": [-0.0001, 10.0001, -1],
        "parameters.seed": [-1, 2**31, 2**63],
        "parameters.emotion": ["HAPPY", "happy", "sad", "e" * 32, "e" * 33, "😀", "angry\x00"],
    }
    _run(
        fuzz,
        [(SYNTHESIZE, _set(BASE_SYNTHESIZE, name, value)) for name, options in values.items() for value in options],
    )


def test_what_a_client_sends_cannot_forge_response_headers(fuzz: Fuzzer) -> None:
    """The emotion is echoed in X-Emotion-Requested (and a warning): line breaks and characters
    outside latin-1 must neither break the response nor add a header of their own."""
    emotions = ["x\r\nSet-Cookie: fuzz=1", "x\nX-Injected: 1", "😀", "é" * 32, "\x00", "\x7f", "a\tb", "%0d%0a"]
    failures: list[str] = []
    for emotion in emotions:
        answer = fuzz.post_json(SYNTHESIZE, _set(BASE_SYNTHESIZE, "parameters.emotion", emotion))
        collect(answer, failures)
        if "set-cookie" in answer.headers or "x-injected" in answer.headers:
            failures.append(f"the emotion {emotion!r} added a response header\n  {answer.describe()}")
    assert_none_failed(failures, len(emotions))


def test_unknown_and_misplaced_fields(fuzz: Fuzzer) -> None:
    sends = [
        (SYNTHESIZE, {**BASE_SYNTHESIZE, "speed": 1.5}),
        (SYNTHESIZE, {**BASE_SYNTHESIZE, "Text": "Hi."}),
        (SYNTHESIZE, {**BASE_SYNTHESIZE, "parameters": {"speed": 1.0, "volume": 2}}),
        (SYNTHESIZE, {**BASE_SYNTHESIZE, "parameters": {"parameters": {"speed": 1.0}}}),
        (SYNTHESIZE, {"voice_id": "voice_001"}),
        (SYNTHESIZE, {"parameters": {"speed": 1.0}}),
        (SYNTHESIZE, {**{f"field_{n}": n for n in range(1000)}, **BASE_SYNTHESIZE}),
        (SPEECH, {k: v for k, v in BASE_SPEECH.items() if k != "model"}),
        (SPEECH, {k: v for k, v in BASE_SPEECH.items() if k != "input"}),
        (SPEECH, {k: v for k, v in BASE_SPEECH.items() if k != "voice"}),
        (SPEECH, {**BASE_SPEECH, "text": "Hi.", "voice_id": "voice_001", "parameters": {"speed": "x"}}),
        (SPEECH, {**BASE_SPEECH, **{f"field_{n}": n for n in range(1000)}}),
    ]
    _run(fuzz, sends)


# ---------------------------------------------------------------------------------------------------
# Texts: big numbers, other scripts, lengths


def test_numbers_of_hundreds_of_digits(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for text in BIG_NUMBERS:
        collect(_probe_stream(fuzz, text, label=f"{len(text)} chars"), failures)
    # The same numbers whole on the OpenAI route, where they must be refused or spoken (a stream too).
    for text in BIG_NUMBERS[:6]:
        body = {**BASE_SPEECH, "input": text, "stream": True, "response_format": "pcm"}
        collect(fuzz.send("POST", SPEECH, route=f"POST {SPEECH} (stream)", json=body, headers_only=True), failures)
    assert_none_failed(failures, len(BIG_NUMBERS) + 6)


def test_scripts_and_texts_with_nothing_to_speak(fuzz: Fuzzer) -> None:
    """Thai or Arabic alone is refused once unsupported_language exists; here: < 500 and the error shape."""
    failures: list[str] = []
    for text in SCRIPT_TEXTS:
        collect(_probe_stream(fuzz, text), failures)
    for text in SCRIPT_TEXTS[:3]:  # whole responses too: what a client without streaming gets
        collect(fuzz.post_json(SYNTHESIZE, {**BASE_SYNTHESIZE, "text": text, "format": "pcm"}), failures)
        collect(fuzz.post_json(SPEECH, {**BASE_SPEECH, "input": text, "response_format": "pcm"}), failures)
    assert_none_failed(failures, len(SCRIPT_TEXTS) + 6)


@pytest.mark.fuzz_slow
@pytest.mark.parametrize("name", list(MULTIPLYING_TEXTS))
def test_texts_that_multiply_when_read(fuzz: Fuzzer, name: str) -> None:
    """Under max_length as written, far longer as spoken: refused, or answered within api.timeout."""
    text = MULTIPLYING_TEXTS[name]
    timeout = slow_timeout(fuzz.api_timeout)
    body = {"text": text, "voice_id": "voice_002", "format": "pcm"}
    expect_sane(
        fuzz.send("POST", SYNTHESIZE, route=f"POST {SYNTHESIZE} (slow)", json=body, timeout=timeout, label=name)
    )


# ---------------------------------------------------------------------------------------------------
# Property-based: generated bodies and texts


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
# Numbers in range come from a few values (cache hits), the rest from anywhere.
RANGED = st.sampled_from([0.5, 1, 1.0, 2.0]) | st.floats(max_value=0.49) | st.floats(min_value=2.01) | JSON_VALUES
KNOWN_TEXTS = st.sampled_from(["Hi.", "", " ", "\x00", "a" * 1001]) | JSON_SCALARS


def test_generated_synthesize_bodies(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    parameters = st.fixed_dictionaries(
        {},
        optional={
            "speed": RANGED,
            "pitch": RANGED,
            "emotion": st.sampled_from(["neutral", "happy", ""]) | JSON_VALUES,
            "time_step": JSON_VALUES,
            "p_w": JSON_VALUES,
            "t_w": JSON_VALUES,
            "seed": JSON_VALUES,
            "extra": JSON_VALUES,
        },
    )
    bodies = (
        st.fixed_dictionaries(
            {"text": KNOWN_TEXTS},
            optional={
                "voice_id": st.sampled_from(["voice_001", None, "nope", ""]) | JSON_VALUES,
                "format": st.sampled_from(["wav", "WAV", "nope"]) | JSON_VALUES,
                "stream": st.sampled_from([False]) | JSON_VALUES,
                "parameters": parameters | JSON_VALUES,
            },
        )
        | JSON_VALUES
    )

    @settings(FUZZ_SETTINGS, max_examples=150)
    @given(body=bodies)
    def run(body: Any) -> None:
        nonlocal sent
        sent += 1
        collect(fuzz.post_raw(SYNTHESIZE, json.dumps(body, allow_nan=True).encode()), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_openai_bodies(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    bodies = (
        st.fixed_dictionaries(
            {
                "model": st.sampled_from(["tts-1", "tts-1-hd", "nope"]) | JSON_SCALARS,
                "input": KNOWN_TEXTS,
                "voice": st.sampled_from(["alloy", "voice_001", "nope"]) | JSON_SCALARS,
            },
            optional={
                "response_format": st.sampled_from(["wav", "nope"]) | JSON_VALUES,
                "speed": st.sampled_from([1.0, 0.1, 5.0])
                | st.floats(max_value=0.24)
                | st.floats(min_value=4.01)
                | JSON_VALUES,
                "stream": st.sampled_from([False]) | JSON_VALUES,
                "stream_format": st.sampled_from(["audio", "sse", "x"]) | JSON_VALUES,
                "instructions": JSON_VALUES,
            },
        )
        | JSON_VALUES
    )

    @settings(FUZZ_SETTINGS, max_examples=100)
    @given(body=bodies)
    def run(body: Any) -> None:
        nonlocal sent
        sent += 1
        if isinstance(body, dict) and "stream" not in body:
            body = {**body, "stream": False}  # the default streams: keep whole responses (cache hits)
        collect(fuzz.post_raw(SPEECH, json.dumps(body, allow_nan=True).encode()), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_bytes_as_bodies(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0

    @settings(FUZZ_SETTINGS, max_examples=60)
    @given(route=st.sampled_from([SYNTHESIZE, SPEECH]), body=st.binary(max_size=300))
    def run(route: str, body: bytes) -> None:
        nonlocal sent
        sent += 1
        collect(fuzz.post_raw(route, body), failures)

    run()
    assert_none_failed(failures, sent)


# Characters of every kind a text may hold: the scripts the engine speaks, others, digits and symbols
# the normalizer reads, marks, controls and invisible characters.
LATIN = list("abcxyzABC 0123456789.,!?;:$%€¥°/-'&@+#")
HAN = list("你好中文数字一二三，。！？：；")
OTHER_SCRIPTS = list("สวัสดีمرحباשלוםПриветこんにちは안녕")
ODD = ["\u0301", "\u200b", "\u202e", "\ufeff", "\x00", "\x07", "\n", "\t", "\u3000", "😀", "１", "％", "Ⅻ", "½"]
TEXT_CHARACTERS = st.sampled_from(LATIN + HAN + OTHER_SCRIPTS + ODD)
# Whole syntheses cost seconds each on a loaded 2-core machine: MEGATTS3_FUZZ_SPOKEN_EXAMPLES sets how many.
SPOKEN_EXAMPLES = int(os.environ.get("MEGATTS3_FUZZ_SPOKEN_EXAMPLES", "30"))


def test_generated_short_texts_spoken_whole(fuzz: Fuzzer) -> None:
    """Short texts (at most 16 characters, mostly of one script, so one engine call each) synthesized
    whole at speed 2: what the engine itself makes of each kind of character."""
    failures: list[str] = []
    sent = 0
    alphabets = st.sampled_from([LATIN + ODD, HAN + ODD, OTHER_SCRIPTS + ODD, LATIN + HAN + OTHER_SCRIPTS + ODD])
    texts = alphabets.flatmap(lambda alphabet: st.text(st.sampled_from(alphabet), max_size=16))

    @settings(FUZZ_SETTINGS, max_examples=SPOKEN_EXAMPLES)
    @given(text=texts, route=st.sampled_from([SYNTHESIZE, SPEECH]))
    def run(text: str, route: str) -> None:
        nonlocal sent
        sent += 1
        if route == SYNTHESIZE:
            body = {"text": text, "voice_id": "voice_003", "format": "pcm", "parameters": {"speed": 2.0}}
            collect(fuzz.post_json(SYNTHESIZE, body), failures)
        else:
            body = {**BASE_SPEECH, "input": text, "voice": "nova", "response_format": "pcm", "speed": 2.0}
            collect(fuzz.post_json(SPEECH, body), failures)

    run()
    assert_none_failed(failures, sent)


def test_generated_long_texts_until_their_status(fuzz: Fuzzer) -> None:
    """Texts up to max_length and a little past it, full of numbers and symbols: normalized, checked
    and admitted (or refused) before any audio, so a stream's status tells (its synthesis is cancelled)."""
    failures: list[str] = []
    sent = 0
    # Numbers of every length up to the limit, around 308 digits (past a float) most of all.
    length = st.integers(1, 30) | st.integers(290, 420) | st.integers(421, 1000)
    digits = st.builds(lambda pattern, n: (pattern * n)[:n], st.text("0123456789", min_size=1, max_size=4), length)
    number = st.builds(
        lambda sign, whole, sep, frac, suffix: f"{sign}{whole}{sep}{frac}{suffix}",
        st.sampled_from(["", "-", "$", "€", "¥", "第", "No. "]),
        digits,
        st.sampled_from(["", ".", ",", ":", "/", "-"]),
        st.text("0123456789", max_size=40),
        st.sampled_from(["", "%", "th", "st", "km", "°C", "个", "元", "年", "'s", " million"]),
    )
    pieces = st.lists(number | st.text(TEXT_CHARACTERS, max_size=30), min_size=1, max_size=12)

    @settings(FUZZ_SETTINGS, max_examples=100)
    @given(parts=pieces, joiner=st.sampled_from(["", " ", "，", "\n", "。"]))
    def run(parts: list[str], joiner: str) -> None:
        nonlocal sent
        sent += 1
        collect(_probe_stream(fuzz, joiner.join(parts)[:1100]), failures)

    run()
    assert_none_failed(failures, sent)


def test_server_survived(fuzz: Fuzzer) -> None:
    server: ServerProcess = fuzz.server
    assert server.process is not None and server.process.poll() is None, server.console()[-3000:]
    assert fuzz.healthy()
