"""Fuzzing the lexicon and the readings on the synthesis routes: lexicon words and readings of every
kind, bulk puts, odd but valid words (Unicode casing), inline marks, request lexicons, generated marks
and lexicons (streams, read until their status: the server cancels the rest).

The contract is tests/support/malformed.py's, and every test also leaves the stored lexicon and the
job list as it found them: a refused request stores nothing, and what a test stores it deletes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fuzz_routes import LEXICON, SPEECH, SYNTHESIZE, refused, stored_data
from tests.support.malformed import (
    FUZZ_SETTINGS,
    Fuzzer,
    assert_none_failed,
    collect,
    expect_sane,
)
from tests.support.server import running_server


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Fuzzer]:
    with running_server(tmp_path_factory.mktemp("fuzz-lexicon"), model_cache) as server:
        fuzzer = Fuzzer(server.base_url, module="lexicon", server=server)
        try:
            yield fuzzer
        finally:
            fuzzer.close()


@pytest.fixture(autouse=True)
def stored_unchanged(fuzz: Fuzzer) -> Iterator[None]:
    """The stored lexicon and the job list are the same after a test as before it."""
    before = stored_data(fuzz)
    yield
    after = stored_data(fuzz)
    assert after == before, f"stored data changed:\nbefore {before}\nafter  {after}"


# ---------------------------------------------------------------------------------------------------
# The lexicon: words, readings, sizes

BAD_WORDS = [
    "a%00b",
    "%FF%FE",
    "%00",
    "x%0Ay",
    "ta%09b",
    "%EF%BF%BD",
    "%EF%BF%BF",
    "%ED%A0%80",
    "%C0%AF",
    "%E2%80%AEx%7F",
    "%5Ba%5D",
    "%7Bx%7D",
    "w" * 65,
    "%20%20",
    "%EE%80%80",  # private use: what hides a mark
]


def test_words_that_are_no_words_are_refused_and_not_stored(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for word in BAD_WORDS:
        refused(
            fuzz.send("PUT", f"{LEXICON}/{word}", json={"reading": "/ab/"}, route="PUT lexicon word"), failures, 422
        )
        refused(fuzz.send("DELETE", f"{LEXICON}/{word}", route="DELETE lexicon word"), failures, 404, 422)
    assert_none_failed(failures, 2 * len(BAD_WORDS))


READINGS: list[Any] = [
    None,
    1,
    1.5,
    True,
    [],
    {},
    "",
    " ",
    "//",
    "/ /",
    "chong9",
    "chongg2",
    "x" * 300,
    "/" + "a" * 300 + "/",
    "ma1 " * 100,
    "\x00",
    "/\x00/",
    "重庆",
    "ü9",
]


def test_readings_of_every_kind_are_refused_and_not_stored(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for reading in READINGS:
        answer = fuzz.send("PUT", f"{LEXICON}/kword", json={"reading": reading}, route="PUT lexicon word")
        refused(answer, failures, 422)
    raw = [
        b'{"reading": "\\ud800"}',
        b'{"reading": "/a/", "extra": 1}',
        b'{"reading": ',
        b"null",
        b'{"reading": "' + b"a" * 5_000_000 + b'"}',
    ]
    for body in raw:
        answer = fuzz.send(
            "PUT",
            f"{LEXICON}/kword",
            content=body,
            headers={"Content-Type": "application/json"},
            route="PUT lexicon word",
        )
        refused(answer, failures, 400, 413, 422)
    assert_none_failed(failures, len(READINGS) + len(raw))


def test_bulk_puts_are_all_or_nothing(fuzz: Fuzzer) -> None:
    many = {f"bulk{n}": "/b/" for n in range(9_999)}
    bodies: list[Any] = [
        {"entries": {**many, "bad": "chong9"}},
        {"entries": {**many, "a\x00": "/x/"}},
        {"entries": {f"bulk{n}": "/b/" for n in range(10_001)}},
        {"entries": {}},
        {"entries": []},
        {"entries": {"x": 1}},
        {"entries": {"x": "/x/"}, "more": 1},
        {},
        [],
    ]
    failures: list[str] = []
    for body in bodies:
        refused(fuzz.send("PUT", LEXICON, json=body, route="PUT lexicon"), failures, 413, 422)
    assert_none_failed(failures, len(bodies))


def test_odd_but_valid_words_round_trip(fuzz: Fuzzer) -> None:
    """Words a user may mean, however odd their letters: stored, read back under one key, spoken, deleted."""
    failures: list[str] = []
    words = ["Hİ", "straße", "ΟΔΟΣ", "ǅemal", "ﬁne", "a b", "C++", "重庆市"]
    for word in words:
        put = fuzz.send("PUT", f"{LEXICON}/{word}", json={"reading": "/ab/"}, route="PUT lexicon word")
        collect(put, failures)
        spoken = fuzz.send(
            "POST",
            SYNTHESIZE,
            json={"text": f"{word.upper()} {word.lower()}。", "stream": True, "format": "pcm"},
            headers_only=True,
            route=f"POST {SYNTHESIZE} (stream)",
        )
        collect(spoken, failures)
        gone = fuzz.send("DELETE", f"{LEXICON}/{word.swapcase()}", route="DELETE lexicon word")
        if gone.status == 404:  # a spelling whose case does not fold back (İ -> i̇): the word itself
            gone = fuzz.send("DELETE", f"{LEXICON}/{word}", route="DELETE lexicon word")
        refused(gone, failures, 204)
    assert_none_failed(failures, 3 * len(words))


# ---------------------------------------------------------------------------------------------------
# Inline readings and request lexicons on the synthesis routes (streams, read until their status)

MARKED_TEXTS = [
    "[" + "9" * 900 + "]{jiu3}",
    "[[a]{a1}]{b}",
    "[a]{{b}}",
    "[a]{b",
    "a]{b}",
    "[a]{}",
    "[]{a1}",
    "[a\nb]{a1}",
    "[a]{/\x00/}",
    "[a]{/" + "ə" * 200 + "/}",
    "[a]{a1}" * 142,
    "[重庆]{chong2}",
    "[重]{chong9}",
    "[重]{CHONG2}",
    "\ue000\ue001[a]{a1}",
    "Hİ there.",
    "[Hİ]{/hˈI/} there.",
    "No. " + "1" * 101,
    "No. " + "1" * 100,
    "[" + "1" * 500 + "]{yi1} and 123.",
]


def test_inline_readings(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for text in MARKED_TEXTS:
        for path, body in (
            (SYNTHESIZE, {"text": text, "voice_id": "voice_001", "format": "pcm", "stream": True}),
            (SPEECH, {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}),
        ):
            collect(fuzz.send("POST", path, json=body, headers_only=True, route=f"POST {path} (marks)"), failures)
    assert_none_failed(failures, 2 * len(MARKED_TEXTS))


REQUEST_LEXICONS: list[Any] = [
    {"hi": "/hˈI/"},
    {"HI": "/hˈI/", "hi": "/x/", "Hi": "/y/"},
    {"İ": "/i/"},
    {"i̇": "/i/"},
    {"the": " ".join(["ma1"] * 60)},
    {"the": " ".join(["ma1"] * 100)},
    {f"w{n}": "/w/" for n in range(1001)},
    {f"w{n}": "/" + "w" * 200 + "/" for n in range(300)},
    {"\x00": "/x/"},
    {"a": "\x00"},
    {"[a]": "/x/"},
    {"a": "/a/", "A": "chong2"},
    {"": ""},
    [],
    "the",
    {"the": None},
]


def test_request_lexicons(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    text = "Hİ there, the cat sat on the mat. " * 8
    for lexicon in REQUEST_LEXICONS:
        for path, body in (
            (SYNTHESIZE, {"text": text, "format": "pcm", "stream": True, "lexicon": lexicon}),
            (SPEECH, {"model": "tts-1", "input": text, "voice": "nova", "response_format": "pcm", "lexicon": lexicon}),
        ):
            collect(fuzz.send("POST", path, json=body, headers_only=True, route=f"POST {path} (lexicon)"), failures)
        whole = {"text": "Hİ there.", "format": "pcm", "lexicon": lexicon}
        collect(fuzz.post_json(SYNTHESIZE, whole, label="whole, lexicon"), failures)
    assert_none_failed(failures, 3 * len(REQUEST_LEXICONS))


def test_generated_marks_and_lexicons(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    letters = st.sampled_from([*"aAİıiIßẞſΣσς好重庆 .,[]{}/", "ma1", "chong2", "/ə/"])
    texts = st.lists(letters, min_size=1, max_size=20).map("".join)
    words = st.lists(letters, min_size=1, max_size=4).map("".join)
    lexicons = st.dictionaries(words, st.sampled_from(["/ə/", "ma1", "x9", ""]), max_size=4)

    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(text=texts, lexicon=lexicons)
    def run(text: str, lexicon: dict[str, str]) -> None:
        nonlocal sent
        sent += 1
        body = {"text": text, "format": "pcm", "stream": True, "lexicon": lexicon}
        collect(
            fuzz.send("POST", SYNTHESIZE, json=body, headers_only=True, route=f"POST {SYNTHESIZE} (generated)"),
            failures,
        )

    run()
    assert_none_failed(failures, sent)


def test_server_survived(fuzz: Fuzzer) -> None:
    server = fuzz.server
    assert server.process is not None and server.process.poll() is None, server.console()[-3000:]
    assert fuzz.healthy()
    expect_sane(fuzz.send("GET", "/health", count=False))
    assert json.loads(fuzz.client.get("/health").text)["status"] in ("healthy", "degraded")
