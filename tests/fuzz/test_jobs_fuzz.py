"""Fuzzing long-form jobs: screenplays, chapter texts, scripts, lexicons and job bodies of every shape,
then Range on a finished job's track, its event stream (SSE) and the job routes with odd ids.

The contract is tests/support/malformed.py's (never 5xx, the JSON error body for every 4xx, an
answer within the client's timeout), and every test also leaves the stored lexicon and the job list
as it found them: a refused request stores nothing. Job bodies that might otherwise be accepted
name a voice that does not exist (NO_VOICE), so that each is checked whole and then refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fuzz_routes import JOBS, NO_VOICE, refused, stored_data
from tests.support.malformed import (
    FUZZ_SETTINGS,
    Fuzzer,
    assert_none_failed,
    collect,
    expect_sane,
    http_request,
    raw_problems,
    with_raw,
)
from tests.support.server import running_server
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Fuzzer]:
    with running_server(tmp_path_factory.mktemp("fuzz-jobs"), model_cache) as server:
        fuzzer = Fuzzer(server.base_url, module="jobs", server=server)
        try:
            yield fuzzer
        finally:
            fuzzer.close()


@pytest.fixture(scope="module")
def done_job(fuzz: Fuzzer) -> dict[str, Any]:
    """A finished one-segment job (its track, events and subtitles are fuzzed)."""
    created = fuzz.client.post(JOBS, json={"text": "你好。", "voice_id": "voice_002", "format": "wav"})
    assert created.status_code == 202, created.text
    job = created.json()
    wait_until(lambda: fuzz.client.get(f"{JOBS}/{job['id']}").json()["status"] in ("done", "failed"), timeout=300)
    job["size"] = len(fuzz.client.get(job["audio_url"]).content)
    return job


@pytest.fixture(autouse=True)
def stored_unchanged(fuzz: Fuzzer, done_job: dict[str, Any]) -> Iterator[None]:
    """The stored lexicon and the job list are the same after a test as before it."""
    before = stored_data(fuzz)
    yield
    after = stored_data(fuzz)
    assert after == before, f"stored data changed:\nbefore {before}\nafter  {after}"


def _send_all(fuzz: Fuzzer, sends: list[tuple[str, str, dict[str, Any]]]) -> None:
    """(method, path, httpx keyword arguments) each, checked against the contract."""
    failures: list[str] = []
    for method, path, kwargs in sends:
        route = kwargs.pop("route", f"{method} {path.split('?')[0]}")
        collect(fuzz.send(method, path, route=route, **kwargs), failures)
    assert_none_failed(failures, len(sends))


# ---------------------------------------------------------------------------------------------------
# Jobs: screenplays, texts, scripts

SCREENPLAYS = [
    " " * 8000 + "x",
    " " * 2000 + "A：" + " " * 2000 + "x",
    "\t" * 3000 + ":",
    ":" * 5000,
    "：" * 5000,
    "A" * 41 + "：你好。",
    "A" * 5000 + "：你好。",
    "A：" + "好" * 5000,
    "A：你好。\n" * 10_001,
    "\n" * 20_000,
    "A：\n" * 100,
    "：你好。",
    " ：你好。",
    "A：你好。\rB：好。",
    "A：你好。\u2028B：好。\u2029A：再见。",
    "A：\x00你好。",
    "A\x00：你好。",
    "A：[重]{chong9}来。",
    "A：" + "9" * 101,
    "A：……！！",
    "A:" + " " * 3000 + "B:" * 1000,
    "A：你好。\nB：嗯。",  # B has no voice
]


@pytest.mark.parametrize("screenplay", SCREENPLAYS, ids=[f"screenplay{n}" for n in range(len(SCREENPLAYS))])
def test_screenplays(fuzz: Fuzzer, screenplay: str) -> None:
    answer = fuzz.post_json(JOBS, {"screenplay": screenplay, "voices": {"A": NO_VOICE}}, label="screenplay")
    failures: list[str] = []
    refused(answer, failures, 413, 422)
    assert_none_failed(failures, 1)


JOB_TEXTS = [
    "……！！\n。。。",
    "\n".join(["。"] * 500),
    "你好。\n！！！\n再见。",
    " \n \n ",
    "第1段。\n" + "9" * 101 + "。",
    "[" + "9" * 900 + "]{jiu3}",
    "[重]{chong9}来了。",
    "[重]{}来了。",
    "[]{chong2}",
    "好" * 1001,
    "好" * 200_001,
    ("好。\n" * 5001),
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "สวัสดีครับ",
    "[a]{a1}" * 140,
    "Hİ there.",
]


def test_text_jobs_are_checked_whole_and_refused_without_storing(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    for text in JOB_TEXTS:
        refused(fuzz.post_json(JOBS, {"text": text, "voice_id": NO_VOICE}, label="text job"), failures, 413, 422)
    for text in ["……！！", "。。。"]:  # with a voice that exists: the text alone is refused
        refused(fuzz.post_json(JOBS, {"text": text, "voice_id": "voice_001"}, label="punctuation"), failures, 422)
    assert_none_failed(failures, len(JOB_TEXTS) + 2)


def test_job_lexicons(fuzz: Fuzzer) -> None:
    multiplying = " ".join(["ma1"] * 60)
    lexicons: list[Any] = [
        {"the": multiplying},
        {"hi": "/hˈI/"},
        {"重庆": "chong9 qing4"},
        {"a\x00b": "/ab/"},
        {"x" * 65: "/x/"},
        {"the": " ".join(["ma1"] * 100)},
        {f"w{n}": "/w/" for n in range(1001)},
        {"": "/x/"},
        {"[a]": "/x/"},
        [],
        "the",
        {"the": 1},
    ]
    failures: list[str] = []
    for lexicon in lexicons:
        body = {"text": "the " * 250, "voice_id": NO_VOICE, "lexicon": lexicon}
        refused(fuzz.post_json(JOBS, body, label="job lexicon"), failures, 413, 422)
    assert_none_failed(failures, len(lexicons))


SCRIPT_LINE_FIELDS = {
    "voice_id": [None, 1, "", "x" * 65, [], {}, "voice_001\x00"],
    "text": [None, 1, "", "……", "9" * 101, "好" * 1001, [], {"a": 1}],
    "pause_ms": [-1, 60_001, 1.5, "100", None, 10**30],
    "speaker": ["s" * 101, 1, [], "\x00"],
    "parameters": [{"speed": 9}, {"speed": "1"}, {"emotion": "e" * 33}, {"volume": 1}, [], "fast"],
}


@pytest.mark.parametrize("field", list(SCRIPT_LINE_FIELDS))
def test_script_lines_take_every_kind_of_value(fuzz: Fuzzer, field: str) -> None:
    failures: list[str] = []
    values = SCRIPT_LINE_FIELDS[field]
    for value in values:
        line = {"voice_id": NO_VOICE, "text": "你好。", field: value}
        refused(fuzz.post_json(JOBS, {"script": [line]}, label=f"script {field}"), failures, 413, 422)
    assert_none_failed(failures, len(values))


def test_job_bodies_of_every_wrong_shape(fuzz: Fuzzer) -> None:
    bodies: list[Any] = [
        {"text": "你好。", "screenplay": "A：好。", "voice_id": NO_VOICE},
        {"script": [{"voice_id": NO_VOICE, "text": "好。"}] * 5001},
        {"script": []},
        {"screenplay": "A：好。", "voices": {"B": NO_VOICE}},  # no voices at all: A is cast (202)
        {"screenplay": "A：好。", "voices": []},
        {"screenplay": "A：好。", "voices": {"A": 1}},
        {"screenplay": "A：好。", "voices": {f"A{n}": NO_VOICE for n in range(5000)}},
        {"text": "你好。", "voice_id": NO_VOICE, "format": "exe"},
        {"text": "你好。", "voice_id": NO_VOICE, "title": "t" * 201},
        {"text": "你好。", "voice_id": NO_VOICE, "parameters": {"speed": 0.1}},
        {},
        [],
        None,
    ]
    failures: list[str] = []
    for body in bodies:
        refused(fuzz.post_json(JOBS, body, label="job shape"), failures, 413, 422)
    raw = [
        with_raw({"text": "x", "voice_id": NO_VOICE}, "text", r'"\ud800"'),
        with_raw({"screenplay": "x", "voices": {"A": NO_VOICE}}, "screenplay", r'"A：\udfff"'),
        b'{"text": "' + b"a" * 5_000_000 + b'"}',
    ]
    for body in raw:
        refused(fuzz.post_raw(JOBS, body, label="job raw"), failures, 400, 413, 422)
    assert_none_failed(failures, len(bodies) + len(raw))


def test_generated_job_bodies(fuzz: Fuzzer) -> None:
    failures: list[str] = []
    sent = 0
    pieces = st.sampled_from([*"你好。：: \n！…A[]{}19x", "ma1", "chong2"])
    texts = st.lists(pieces, max_size=30).map("".join)
    bodies = st.fixed_dictionaries(
        {"voice_id": st.just(NO_VOICE)},  # named, so that no text job is accepted in the default voice
        optional={
            "text": texts,
            "screenplay": texts,
            "script": st.lists(st.fixed_dictionaries({"voice_id": st.just(NO_VOICE), "text": texts}), max_size=4),
            "voices": st.dictionaries(st.sampled_from(["A", "B", "旁白"]), st.just(NO_VOICE), max_size=3),
            "lexicon": st.dictionaries(st.sampled_from(["A", "好", "x"]), st.sampled_from(["/a/", "hao3", "x9"])),
        },
    )

    @settings(FUZZ_SETTINGS, max_examples=40)
    @given(body=bodies)
    def run(body: dict[str, Any]) -> None:
        nonlocal sent
        sent += 1
        refused(fuzz.post_json(JOBS, body, label="generated job"), failures, 413, 422)

    run()
    assert_none_failed(failures, sent)


# ---------------------------------------------------------------------------------------------------
# Range on a job's track, the event stream

RANGES = [
    "bytes=500-100",
    "bytes=10-5",
    "bytes=abc",
    "bytes=",
    "bytes=,",
    "bytes=-0",
    "bytes=99999999-",
    "bytes=" + "9" * 5000 + "-",
    "bytes=-" + "9" * 5000,
    "bytes=0-1,9-3",
    "bytes=0x0-1",
    "bytes=1-2-3",
    "bytes=--1",
    "bytes= 0 - 1 ",
    "bytes=0-0," * 200,
    "BYTES=0-1",
    "items=0-5",
    "bytes 0-5",
    "=0-5",
    "0-5",
    "bytes=0-",
    "bytes=-10",
    "bytes=0-0,5-9",
    "bytes=\xb9-\xb2",
    "bytes=1-1e3",
]


def test_ranges_on_a_track(fuzz: Fuzzer, done_job: dict[str, Any]) -> None:
    failures: list[str] = []
    path = done_job["audio_url"]
    conditions = [("If-Range", '"stale"'), ("If-Range", "garbage"), ("If-Range", "Thu, 01 Jan 1970 00:00:00 GMT")]
    sends = [[("Range", value)] for value in RANGES] + [[("Range", "bytes=9-1"), condition] for condition in conditions]
    for headers in sends:
        request = http_request("GET", path, [*headers, ("Connection", "close")])
        for answer in fuzz.raw(request, route="GET job audio (Range)", label=headers[0][1][:40]):
            if problems := raw_problems(answer):
                failures.append("; ".join(problems) + "\n  " + answer.describe())
            if answer.status == 416 and answer.headers.get("content-range") != f"bytes */{done_job['size']}":
                failures.append(f"416 without Content-Range: bytes */{done_job['size']}\n  {answer.describe()}")
            if answer.status == 400:
                failures.append(f"400 for a Range (RFC 9110: 416, or ignored)\n  {answer.describe()}")
    assert_none_failed(failures, len(sends))


def test_event_streams(fuzz: Fuzzer, done_job: dict[str, Any]) -> None:
    failures: list[str] = []
    ids = [done_job["id"], "no_such_job", "%00", "..%2F..", "x" * 5000, "%FF%FE", done_job["id"] + "%00"]
    headers_sets: list[dict[str, str]] = [
        {},
        {"Accept": "text/event-stream"},
        {"Last-Event-ID": "\x7f" * 100},
        {"Accept": "application/json", "Cache-Control": "no-cache"},
    ]
    sent = 0
    for job_id in ids:
        for headers in headers_sets:
            sent += 1
            answer = fuzz.send("GET", f"{JOBS}/{job_id}/events", headers=headers, route="GET job events", timeout=60)
            collect(answer, failures)
            if answer.status == 200 and b"event: done" not in answer.body:
                failures.append(f"a finished job's stream did not end with its state\n  {answer.describe()}")
    for method in ("HEAD", "POST", "DELETE"):
        sent += 1
        collect(fuzz.send(method, f"{JOBS}/{done_job['id']}/events", route=f"{method} job events"), failures)
    assert_none_failed(failures, sent)


def test_job_routes_with_odd_ids(fuzz: Fuzzer, done_job: dict[str, Any]) -> None:
    ids = ["%00", "..%2F..%2Fetc", "x" * 5000, "%FF%FE", "%E2%80%AE", " ", "%20", done_job["id"] + "%00"]
    suffixes = ["", "/audio", "/timestamps", "/subtitles.srt", "/subtitles.vtt"]
    sends = [("GET", f"{JOBS}/{job}{suffix}", {"route": f"GET job{suffix}"}) for job in ids for suffix in suffixes]
    sends += [("DELETE", f"{JOBS}/{job_id}", {"route": "DELETE job"}) for job_id in ids]
    _send_all(fuzz, sends)


def test_server_survived(fuzz: Fuzzer) -> None:
    server = fuzz.server
    assert server.process is not None and server.process.poll() is None, server.console()[-3000:]
    assert fuzz.healthy()
    expect_sane(fuzz.send("GET", "/health", count=False))
    assert json.loads(fuzz.client.get("/health").text)["status"] in ("healthy", "degraded")
