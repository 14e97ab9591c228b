"""Two keys on one server: every way one key could reach what another stored.

Alice stores a voice, a finished job, a job still running and lexicon entries. Bob (a named key) and
Carol (a plain api_keys entry) then try every route on them: show, list, speak with, upload over,
delete, a job's state, events, audio (with a Range too), timestamps and subtitles, cancel, and the
lexicon with and without naming Alice as the owner. Each answer keeps tests/support/malformed.py's
contract (never 5xx, the JSON error body), is 404 as for a thing that does not exist (a job naming her
voice is refused exactly as one naming no voice), and leaves what is stored as it was, which an admin
key reads before and after each case: every voice, every job, every tenant's lexicon entries.

The server is the real app on a real uvicorn (tests/support/standins.served_in_thread) over the tone
engine: what is tested is who may see what, not speech. One job is held running by the engine until the
module ends, so that cancelling it can be tried.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from megatts3_server.app import create_app
from megatts3_server.engines.base import VoiceContext
from tests.support.malformed import Fuzzer, expect_sane
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import ToneEngine, served_in_thread, tone_settings

AUTH = {
    "keys": [{"key": "alice-key-1d3f", "name": "alice"}, {"key": "bob-key-7a0c", "name": "bob"}],
    "api_keys": ["carol-key-52e9"],
    "admin_keys": ["root-key-c4b1"],
}
ALICE = {"Authorization": "Bearer alice-key-1d3f"}
OTHERS = {
    "bob": {"Authorization": "Bearer bob-key-7a0c"},
    # Carol's key travels as X-API-Key (her empty Authorization replaces the client's default, the admin's).
    "carol": {"Authorization": "", "X-API-Key": "carol-key-52e9"},
}
ROOT = {"Authorization": "Bearer root-key-c4b1"}
VOICE = "alice_voice"
SYNTHESIZE, SPEECH, UPLOAD = "/api/v1/tts/synthesize", "/v1/audio/speech", "/api/v1/voices/upload"
JOBS, LEXICON = "/api/v1/tts/jobs", "/api/v1/lexicon"
HELD = "等一等"
"""A text the engine holds until the module ends: Alice's running job speaks it."""
TENANTS = ("key:alice", "key:bob", "default")
"""Whose lexicon entries the snapshot reads (Carol's tenant is a digest: she stores none here)."""


class HoldingEngine(ToneEngine):
    """A tone engine that does not finish a text containing HELD until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()

    def synthesize(self, text: str, voice: VoiceContext, **kwargs: Any) -> np.ndarray:
        if HELD in text:
            self.held.wait(300)
        return super().synthesize(text, voice, **kwargs)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    folder: Path = tmp_path_factory.mktemp("fuzz-ownership")
    engine = HoldingEngine()
    settings = tone_settings(folder, api={"auth": AUTH, "scheduler": {"workers": 2}})
    with served_in_thread(create_app(settings, engine=engine)) as base_url:
        fuzzer = Fuzzer(base_url, module="ownership", headers=ROOT, known_voice=VOICE)
        try:
            _wait_loaded(fuzzer)
            yield fuzzer
        finally:
            engine.held.set()
            fuzzer.close()


@pytest.fixture(scope="module")
def alices(fuzz: Fuzzer) -> dict[str, str]:
    """What Alice stores: a voice, a finished job, a running one, two lexicon entries."""
    http = fuzz.client
    upload = http.post(
        "/api/v1/voices/upload", data={"voice_id": VOICE}, files={"voice_file": real_speech_wav()}, headers=ALICE
    )
    assert upload.status_code == 201, upload.text
    done = _job(http, {"text": "第一段。\n第二段。", "voice_id": VOICE})
    deadline = time.monotonic() + 120
    while http.get(f"/api/v1/tts/jobs/{done}", headers=ALICE).json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    running = _job(http, {"text": f"{HELD}。", "voice_id": "tone_low"})
    while http.get(f"/api/v1/tts/jobs/{running}", headers=ALICE).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    entries = {"重庆": "zhong4 qing4", "Yeepay": "/jˈipA/"}
    assert http.put("/api/v1/lexicon", json={"entries": entries}, headers=ALICE).status_code == 200
    return {"done": done, "running": running}


def _wait_loaded(fuzz: Fuzzer) -> None:
    deadline = time.monotonic() + 60
    while not fuzz.client.get("/health").json().get("model_loaded"):
        assert time.monotonic() < deadline, "the tone engine did not load"
        time.sleep(0.05)


def _job(http: httpx.Client, body: dict[str, Any]) -> str:
    created = http.post("/api/v1/tts/jobs", json=body, headers=ALICE)
    assert created.status_code == 202, created.text
    return created.json()["id"]


def _stored(fuzz: Fuzzer) -> dict[str, Any]:
    """Everything stored, as an admin reads it (what changes by the clock alone is left out)."""
    http = fuzz.client
    voices = http.get("/api/v1/voices").json()["voices"]
    jobs = [
        {key: job[key] for key in ("id", "title", "status", "segments_total", "segments_done", "segments_failed")}
        for job in http.get("/api/v1/tts/jobs").json()["jobs"]
    ]
    lexicons = {tenant: http.get("/api/v1/lexicon", params={"owner": tenant}).json()["entries"] for tenant in TENANTS}
    return {"voices": voices, "jobs": jobs, "lexicons": lexicons}


@dataclass(frozen=True)
class Case:
    """One request another key sends, and what it must get: ``status`` with the error ``code``."""

    label: str
    method: str
    path: str
    route: str
    """The path as a route (ids left out), for the tally."""
    status: int
    code: str
    options: dict[str, Any] = field(default_factory=dict)
    """httpx keyword arguments (``headers`` are added to the key's)."""


def _send_all(fuzz: Fuzzer, cases: list[Case]) -> None:
    """Each case by each other key: sane, the expected status and code, nothing stored changed."""
    for who, key in OTHERS.items():
        for case in cases:
            options = dict(case.options)
            headers = {**key, **options.pop("headers", {})}
            before = _stored(fuzz)
            answer = fuzz.send(
                case.method,
                case.path,
                route=f"{case.method} {case.route} (another key)",
                label=f"{who}: {case.label}",
                headers=headers,
                **options,
            )
            expect_sane(answer)
            assert answer.status == case.status, answer.describe()
            if not answer.head:
                assert json.loads(answer.body)["error"]["code"] == case.code, answer.describe()
            assert _stored(fuzz) == before, f"{who}: {case.label} changed what is stored"


def _voice_cases() -> list[Case]:
    def absent(label: str, method: str, path: str, route: str, **options: Any) -> Case:
        return Case(label, method, path, route, 404, "voice_not_found", options)

    route, hers = "/api/v1/voices/{id}", f"/api/v1/voices/{VOICE}"
    speak = {"text": "你好。", "voice_id": VOICE}
    openai = {"model": "tts-1", "input": "你好。", "voice": VOICE}
    upload = {"data": {"voice_id": VOICE}, "files": {"voice_file": ("r.wav", real_speech_wav(), "audio/wav")}}
    return [
        absent("show her voice", "GET", hers, route),
        absent("show her voice in capitals", "GET", f"/api/v1/voices/{VOICE.upper()}", route),
        absent("HEAD her voice", "HEAD", hers, route),
        absent("delete her voice", "DELETE", hers, route),
        absent("delete it in capitals", "DELETE", f"/api/v1/voices/{VOICE.title()}", route),
        absent("speak with it", "POST", SYNTHESIZE, SYNTHESIZE, json=speak),
        absent("stream with it", "POST", SYNTHESIZE, SYNTHESIZE, json={**speak, "stream": True}),
        absent("speak with it (OpenAI)", "POST", SPEECH, SPEECH, json={**openai, "stream": False}),
        absent("stream it as SSE (OpenAI)", "POST", SPEECH, SPEECH, json={**openai, "stream_format": "sse"}),
        # Ids are one space: its id is taken (409), and the answer says nothing about her voice.
        Case("upload over its id", "POST", UPLOAD, UPLOAD, 409, "voice_exists", upload),
    ]


def _job_cases(alices: dict[str, str]) -> list[Case]:
    cases = []
    for which, job_id in alices.items():
        for label, method, suffix, options in (
            ("show", "GET", "", {}),
            ("show, its id in capitals", "GET", "", {"upper": True}),
            ("HEAD", "HEAD", "", {}),
            ("follow its events", "GET", "/events", {}),
            ("download its audio", "GET", "/audio", {}),
            ("download a range of its audio", "GET", "/audio", {"headers": {"Range": "bytes=0-99"}}),
            ("HEAD its audio", "HEAD", "/audio", {}),
            ("read its timestamps", "GET", "/timestamps", {}),
            ("read its SRT", "GET", "/subtitles.srt", {}),
            ("read its WebVTT", "GET", "/subtitles.vtt", {}),
            ("cancel or delete it", "DELETE", "", {}),
        ):
            options = dict(options)
            shown = job_id.upper() if options.pop("upper", False) else job_id
            path, route = f"{JOBS}/{shown}{suffix}", f"{JOBS}/{{id}}{suffix}"
            cases.append(Case(f"{label} ({which} job)", method, path, route, 404, "job_not_found", options))
    return cases


def _lexicon_cases() -> list[Case]:
    def absent(label: str, method: str, path: str, code: str = "owner_not_found", **options: Any) -> Case:
        return Case(label, method, path, LEXICON if path == LEXICON else f"{LEXICON}/{{word}}", 404, code, options)

    hers, entry = {"owner": "key:alice"}, f"{LEXICON}/重庆"
    return [
        absent("delete her entry", "DELETE", entry, "lexicon_entry_not_found"),
        absent("delete her Latin entry", "DELETE", f"{LEXICON}/yeepay", "lexicon_entry_not_found"),
        absent("list her entries", "GET", LEXICON, params=hers),
        absent("put over her entries", "PUT", LEXICON, params=hers, json={"entries": {"重庆": "chong2 qing4"}}),
        absent("put over her entry", "PUT", entry, params=hers, json={"reading": "chong2 qing4"}),
        absent("delete her entry, naming her", "DELETE", entry, params=hers),
        absent("name the shared entries' owner", "DELETE", entry, params={"owner": "default"}),
        absent("name an owner that does not exist", "GET", LEXICON, params={"owner": "key:nobody"}),
    ]


def test_another_keys_voice_does_not_exist_for_it(fuzz: Fuzzer, alices: dict[str, str]) -> None:
    _send_all(fuzz, _voice_cases())
    for who, headers in OTHERS.items():
        for path in ("/api/v1/voices", "/v1/audio/voices"):
            listed = fuzz.send("GET", path, route=f"GET {path} (another key)", label=f"{who}: list", headers=headers)
            expect_sane(listed)
            assert VOICE not in listed.body.decode(), f"{who} sees her voice in {path}"


def test_a_job_naming_another_keys_voice_is_refused_as_one_naming_none(fuzz: Fuzzer, alices: dict[str, str]) -> None:
    bodies = {
        "a chapter": lambda voice: {"text": "你好。", "voice_id": voice},
        "a script": lambda voice: {"script": [{"voice_id": voice, "text": "你好。"}]},
        "a screenplay": lambda voice: {"screenplay": "她：你好。", "voices": {"她": voice}},
    }
    for who, headers in OTHERS.items():
        for kind, body in bodies.items():
            before = _stored(fuzz)
            hers = fuzz.send("POST", "/api/v1/tts/jobs", route="POST /api/v1/tts/jobs (another key)",
                             label=f"{who}: {kind} in her voice", headers=headers, json=body(VOICE))  # fmt: skip
            nobodys = fuzz.client.post("/api/v1/tts/jobs", json=body("nobody_voice"), headers=headers)
            expect_sane(hers)
            assert hers.status == 422 and json.loads(hers.body)["error"]["code"] == "invalid_voices"
            assert hers.body.decode().replace(VOICE, "?") == nobodys.text.replace("nobody_voice", "?")
            assert _stored(fuzz) == before


def test_another_keys_jobs_do_not_exist_for_it(fuzz: Fuzzer, alices: dict[str, str]) -> None:
    _send_all(fuzz, _job_cases(alices))
    for who, headers in OTHERS.items():
        listed = fuzz.send("GET", "/api/v1/tts/jobs", route="GET /api/v1/tts/jobs (another key)", label=f"{who}: list",
                           headers=headers)  # fmt: skip
        expect_sane(listed)
        assert listed.status == 200 and not set(alices.values()) & set(listed.body.decode().split('"'))
    # Alice (and the admin) still have both, the running one still running.
    assert {alices["done"], alices["running"]} <= {job["id"] for job in _stored(fuzz)["jobs"]}
    assert fuzz.client.get(f"/api/v1/tts/jobs/{alices['running']}", headers=ALICE).json()["status"] == "running"


def test_another_keys_lexicon_entries_do_not_exist_for_it(fuzz: Fuzzer, alices: dict[str, str]) -> None:
    _send_all(fuzz, _lexicon_cases())
    hers = _stored(fuzz)["lexicons"]["key:alice"]
    for who, headers in OTHERS.items():
        listed = fuzz.send("GET", "/api/v1/lexicon", route="GET /api/v1/lexicon (another key)", label=f"{who}: list",
                           headers=headers)  # fmt: skip
        expect_sane(listed)
        assert "重庆" not in listed.body.decode() and "Yeepay" not in listed.body.decode()
        # Its own entry for the same word is its own: hers is untouched, and it is gone again after.
        own = fuzz.send("PUT", "/api/v1/lexicon/重庆", route="PUT /api/v1/lexicon/{word} (another key)",
                        label=f"{who}: its own entry", headers=headers, json={"reading": "chong2 qing4"})  # fmt: skip
        expect_sane(own)
        assert own.status == 200 and _stored(fuzz)["lexicons"]["key:alice"] == hers
        assert fuzz.client.delete("/api/v1/lexicon/重庆", headers=headers).status_code == 204
    assert {entry["word"] for entry in hers if entry["source"] == "api"} == {"重庆", "Yeepay"}
