"""The lexicon under hostile input, through the real app over the tone engine: a letter whose case
changes its length on every route, words that are no words, sizes past api.lexicon, and the work
that grows with the lexicon kept off the event loop and out of each request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from megatts3_server.service import lexicon as lexicon_service
from megatts3_server.text import lexicon as lexicon_module
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import ToneEngine, finished_job, tone_app, tone_settings

HI = {"hi": "/hˈI/"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, ToneEngine]]:
    with tone_app(tone_settings(tmp_path, api={"lexicon": {"max_request_entries": 50}})) as pair:
        yield pair


def _every_route(http: TestClient, text: str, lexicon: dict[str, str] | None) -> dict[str, int]:
    extra = {"lexicon": lexicon} if lexicon else {}
    openai = {"model": "tts-1", "input": text, "voice": "tone_low", "response_format": "pcm", **extra}
    statuses = {
        "synthesize": http.post("/api/v1/tts/synthesize", json={"text": text, **extra}).status_code,
        "stream": http.post("/api/v1/tts/synthesize", json={"text": text, "stream": True, **extra}).status_code,
        "openai streamed": http.post("/v1/audio/speech", json=openai).status_code,
        "openai whole": http.post("/v1/audio/speech", json={**openai, "stream": False}).status_code,
        "synthesize_file": http.post(
            "/api/v1/tts/synthesize_file",
            data={"text": text, **({"lexicon": json.dumps(lexicon)} if lexicon else {})},
            files={"voice_file": real_speech_wav()},
        ).status_code,
    }
    job = http.post("/api/v1/tts/jobs", json={"text": text, "voice_id": "tone_low", **extra})
    statuses["job"] = job.status_code
    if job.status_code == 202:
        statuses["job segment"] = 200 if finished_job(http, job.json()["id"])["status"] == "done" else 500
    return statuses


def test_a_dotted_capital_i_is_spoken_on_every_route_with_a_request_or_a_stored_entry(app) -> None:
    http, _ = app
    assert set(_every_route(http, "Hİ there.", HI).values()) <= {200, 202}
    http.put("/api/v1/lexicon/hi", json={"reading": "/hˈI/"}).raise_for_status()
    assert set(_every_route(http, "Hİ there, hi.", None).values()) <= {200, 202}


@pytest.mark.parametrize("raw", ["a%00b", "%FF%FE", "x%0Ay", "%EF%BF%BD", "ta%09b", "%C0%AF"])
def test_a_word_that_is_no_text_is_refused_and_not_stored(app, raw: str) -> None:
    http, _ = app
    put = http.put(f"/api/v1/lexicon/{raw}", json={"reading": "/ab/"})
    assert put.status_code == 422, put.text
    assert put.json()["error"]["code"] == "invalid_pronunciation"
    assert http.delete(f"/api/v1/lexicon/{raw}").status_code == 422
    bulk = http.put("/api/v1/lexicon", json={"entries": {"ok": "/ok/", "a\u0000b": "/ab/"}})
    assert bulk.status_code == 422
    assert http.get("/api/v1/lexicon").json() == {"entries": []}


def test_one_key_one_entry_whatever_its_spelling(app) -> None:
    http, _ = app
    http.put("/api/v1/lexicon/API", json={"reading": "/A/"}).raise_for_status()
    http.put("/api/v1/lexicon/api", json={"reading": "/B/"}).raise_for_status()
    assert http.get("/api/v1/lexicon").json()["entries"] == [{"word": "api", "reading": "/B/", "source": "api"}]
    assert http.delete("/api/v1/lexicon/Api").status_code == 204
    assert http.get("/api/v1/lexicon").json() == {"entries": []}


def test_a_request_lexicon_past_api_lexicon_is_413_naming_the_setting(app) -> None:
    http, engine = app
    entries = {f"w{n}": "/ab/" for n in range(51)}
    refused = http.post("/api/v1/tts/synthesize", json={"text": "Hi.", "lexicon": entries})
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "lexicon_too_large" and "api.lexicon.max_request_entries" in error["message"]
    assert engine.syntheses == 0


def test_a_request_lexicon_costs_its_own_entries_and_the_global_one_is_read_off_the_loop(
    app, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = app
    built: list[tuple[int, str]] = []
    table = lexicon_module._Table

    def counted(readings):  # every lexicon table built, by size and by the thread that built it
        built.append((len(readings), threading.current_thread().name))
        return table(readings)

    monkeypatch.setattr(lexicon_module, "_Table", counted)
    entries = {f"word{n}": "/ab/" for n in range(5_000)}
    http.put("/api/v1/lexicon", json={"entries": entries}).raise_for_status()  # checked, stored, read again
    assert [size for size, _ in built] == [5_000, 5_000]
    assert all(name != threading.main_thread().name and "loop" not in name.lower() for _, name in built), built
    built.clear()
    assert len(http.get("/api/v1/lexicon").json()["entries"]) == 5_000
    for n in range(3):
        spoken = http.post("/api/v1/tts/synthesize", json={"text": f"word7 and X{n}.", "lexicon": {f"x{n}": "/x/"}})
        assert spoken.status_code == 200, spoken.text
    assert [size for size, _ in built] == [1, 1, 1]  # only each request's own entry; the 5,000 are not rebuilt


def test_the_stored_entries_are_parsed_in_a_worker_thread(app, monkeypatch: pytest.MonkeyPatch) -> None:
    http, _ = app
    threads: list[str] = []
    parse = lexicon_service._stored_readings
    monkeypatch.setattr(
        lexicon_service,
        "_stored_readings",
        lambda raw, known: threads.append(threading.current_thread().name) or parse(raw, known),
    )
    http.put("/api/v1/lexicon/重庆", json={"reading": "chong2 qing4"}).raise_for_status()
    assert http.post("/api/v1/tts/synthesize", json={"text": "去重庆。"}).status_code == 200
    assert threads and all(name.startswith(("AnyIO worker", "asyncio_")) for name in threads), threads
