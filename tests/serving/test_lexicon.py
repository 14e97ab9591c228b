"""Pronunciation the user controls, through the real app over a stand-in engine that records the text
it is given: the global lexicon (file and API, stored with the voices), a request's own lexicon,
inline marks, the cache, and refusals naming the bad entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from megatts3_server.app import create_app
from megatts3_server.config import Settings
from megatts3_server.engines.base import CancelToken, EngineCapabilities, VoiceContext
from megatts3_server.errors import ConfigError
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import RATE, ToneEngine, finished_job, tone_app, tone_settings


class ReadingEngine(ToneEngine):
    """A tone engine that takes readings and keeps every text it was given."""

    def __init__(self, *, readings: bool = True) -> None:
        super().__init__()
        self.readings = readings
        self.texts: list[str] = []

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("tone", RATE, ("zh", "en"), frozenset({"neutral"}), readings=self.readings)

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> Any:
        self.texts.append(text)
        return super().synthesize(text, voice, speed=speed, cancel=cancel)


def _speak(http: TestClient, text: str, **extra: Any) -> None:
    response = http.post("/api/v1/tts/synthesize", json={"text": text, **extra})
    assert response.status_code == 200, response.text


def _refused(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


@contextmanager
def _app(settings: Settings, engine: ReadingEngine | None = None) -> Iterator[tuple[TestClient, ReadingEngine]]:
    """The app over a reading engine, whose record starts after the service's own speed measurement."""
    engine = engine or ReadingEngine()
    with tone_app(settings, engine) as (http, _):
        engine.texts.clear()
        yield http, engine


def test_a_global_entry_changes_what_the_engine_reads_and_the_cache_never_serves_the_old_reading(
    tmp_path: Path,
) -> None:
    with _app(tone_settings(tmp_path)) as (http, engine):
        _speak(http, "我们明天去重庆。")
        assert engine.texts[-1] == "我们明天去重庆。"
        put = http.put("/api/v1/lexicon/重庆", json={"reading": "chong2 qing4"})
        assert put.status_code == 200, put.text
        assert put.json() == {"word": "重庆", "reading": "chong2 qing4", "source": "api"}
        _speak(http, "我们明天去重庆。")
        assert engine.texts[-1] == "我们明天去[重庆]{chong2 qing4}。"
        calls = len(engine.texts)
        _speak(http, "我们明天去重庆。")
        assert len(engine.texts) == calls  # the same reading: served from the cache
        http.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"}).raise_for_status()
        _speak(http, "我们明天去重庆。")
        assert engine.texts[-1] == "我们明天去[重庆]{zhong4 qing4}。"  # not the cached chong2 audio
        assert http.get("/api/v1/lexicon").json() == {
            "entries": [{"word": "重庆", "reading": "zhong4 qing4", "source": "api"}]
        }
        assert http.delete("/api/v1/lexicon/重庆").status_code == 204
        missing = http.delete("/api/v1/lexicon/重庆")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "lexicon_entry_not_found"
        _speak(http, "我们明天去重庆。")
        assert http.get("/api/v1/lexicon").json() == {"entries": []}


def test_the_request_lexicon_beats_the_global_one_and_a_mark_in_the_text_beats_both(tmp_path: Path) -> None:
    with _app(tone_settings(tmp_path)) as (http, engine):
        http.put("/api/v1/lexicon", json={"entries": {"重庆": "chong2 qing4", "API": "/ˌApiˈI/"}}).raise_for_status()
        _speak(http, "用API去重庆。", lexicon={"重庆": "zhong4 qing4"})
        assert engine.texts[-1] == "用[API]{/ˌApiˈI/}去[重庆]{zhong4 qing4}。"
        _speak(http, "去[重庆]{zhong1 qing4}。", lexicon={"重庆": "zhong4 qing4"})
        assert engine.texts[-1] == "去[重庆]{zhong1 qing4}。"
        _speak(http, "去重庆。")  # the request's entries were its own: the global reading again
        assert engine.texts[-1] == "去[重庆]{chong2 qing4}。"


def test_every_synthesis_route_and_jobs_take_a_lexicon(tmp_path: Path) -> None:
    lexicon = {"重庆": "zhong4 qing4"}
    with _app(tone_settings(tmp_path)) as (http, engine):
        speech = http.post(
            "/v1/audio/speech", json={"model": "tts-1", "input": "去重庆。", "voice": "tone_low", "lexicon": lexicon}
        )
        assert speech.status_code == 200, speech.text
        assert engine.texts[-1] == "去[重庆]{zhong4 qing4}。"
        one_shot = http.post(
            "/api/v1/tts/synthesize_file",
            data={"text": "到重庆了。", "lexicon": json.dumps(lexicon)},
            files={"voice_file": real_speech_wav()},
        )
        assert one_shot.status_code == 200, one_shot.text
        assert engine.texts[-1] == "到[重庆]{zhong4 qing4}了。"
        job = http.post(
            "/api/v1/tts/jobs", json={"text": "他回重庆。\n重庆下雨了。", "voice_id": "tone_high", "lexicon": lexicon}
        )
        assert job.status_code == 202, job.text
        assert finished_job(http, job.json()["id"])["status"] == "done"
        assert engine.texts[-2:] == ["他回[重庆]{zhong4 qing4}。", "[重庆]{zhong4 qing4}下雨了。"]
        cues = http.get(f"/api/v1/tts/jobs/{job.json()['id']}/timestamps").json()["segments"]
        assert [sentence["text"] for cue in cues for sentence in cue["sentences"]] == ["他回重庆。", "重庆下雨了。"]


def test_a_request_lexicon_is_merged_once_and_still_follows_changes_to_the_global_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from megatts3_server.service import lexicon as lexicon_service

    parsed: list[dict[str, str]] = []
    parse = lexicon_service._parse
    monkeypatch.setattr(
        lexicon_service, "_parse", lambda entries, what: parsed.append(dict(entries)) or parse(entries, what)
    )
    lexicon = {"重庆": "zhong4 qing4"}
    with _app(tone_settings(tmp_path)) as (http, engine):
        http.put("/api/v1/lexicon/API", json={"reading": "/ˌApiˈI/"}).raise_for_status()
        job = http.post(
            "/api/v1/tts/jobs",
            json={
                "text": "\n".join(f"第{n}次用API去重庆。" for n in range(1, 7)),
                "voice_id": "tone_high",
                "lexicon": lexicon,
            },
        )
        assert job.status_code == 202, job.text
        assert finished_job(http, job.json()["id"])["status"] == "done"
        assert all(text.endswith("用[API]{/ˌApiˈI/}去[重庆]{zhong4 qing4}。") for text in engine.texts[-6:])
        assert parsed.count(lexicon) <= 2, "parsed when the job was checked and once for its six segments"
        http.put("/api/v1/lexicon/API", json={"reading": "/ˈApi/"}).raise_for_status()
        _speak(http, "用API去重庆。", lexicon=lexicon)
        assert engine.texts[-1] == "用[API]{/ˈApi/}去[重庆]{zhong4 qing4}。"  # the changed global entry, merged anew


def test_an_engine_without_readings_gets_the_written_words(tmp_path: Path) -> None:
    with _app(tone_settings(tmp_path), ReadingEngine(readings=False)) as (http, engine):
        _speak(http, "我在[2024]{er4 ling2 er4 si4}年去[重庆]{zhong4 qing4}。")
        assert engine.texts[-1] == "我在2024年去重庆。"


@pytest.mark.parametrize(
    ("body", "word", "said"),
    [
        ({"text": "去重庆。", "lexicon": {"重庆": "chong9 qing4"}}, "重庆", "tone 9"),
        ({"text": "去重庆。", "lexicon": {"重庆": "chongg2 qing4"}}, "重庆", "'chongg' is not a pinyin syllable"),
        ({"text": "去重庆。", "lexicon": {"重庆": "chong2"}}, "重庆", "1 syllables for 2 characters"),
        ({"text": "去[重庆]{chong2 qing0}。"}, None, "tone 0"),
    ],
)
def test_a_bad_reading_is_422_naming_the_entry(
    tmp_path: Path, body: dict[str, Any], word: str | None, said: str
) -> None:
    with _app(tone_settings(tmp_path)) as (http, engine):
        error = _refused(http.post("/api/v1/tts/synthesize", json=body), "invalid_pronunciation")
        assert said in error["message"] and "'重庆'" in error["message"]
        if word is not None:
            assert error["details"]["entry"] == word
        assert engine.texts == []


def test_bad_entries_are_refused_and_none_of_them_is_stored(tmp_path: Path) -> None:
    with _app(tone_settings(tmp_path)) as (http, _):
        bulk = http.put("/api/v1/lexicon", json={"entries": {"重庆": "chong2 qing4", "长沙": "chang7 sha1"}})
        assert _refused(bulk, "invalid_pronunciation")["details"]["entry"] == "长沙"
        assert http.get("/api/v1/lexicon").json() == {"entries": []}
        _refused(http.put("/api/v1/lexicon/A[B]", json={"reading": "/A/"}), "invalid_pronunciation")
        _refused(http.put("/api/v1/lexicon/x", json={"reading": 3}), "invalid_request")
        form = http.post(
            "/api/v1/tts/synthesize_file",
            data={"text": "你好。", "lexicon": "not json"},
            files={"voice_file": b"RIFF"},
        )
        assert _refused(form, "invalid_lexicon")


def test_the_lexicon_file_is_global_and_stored_entries_win_and_survive_a_restart(tmp_path: Path) -> None:
    file = tmp_path / "lexicon.yaml"
    file.write_text("重庆: chong2 qing4\n长沙: chang2 sha1\n", encoding="utf-8")
    settings = tone_settings(tmp_path / "service", lexicon_file=str(file))
    with _app(settings) as (http, engine):
        _speak(http, "从长沙到重庆。")
        assert engine.texts[-1] == "从[长沙]{chang2 sha1}到[重庆]{chong2 qing4}。"
        http.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"}).raise_for_status()
        refused = http.delete("/api/v1/lexicon/长沙")
        assert refused.status_code == 404 and "model.lexicon_file" in refused.json()["error"]["message"]
    with _app(settings) as (http, engine):
        assert http.get("/api/v1/lexicon").json()["entries"] == [
            {"word": "重庆", "reading": "zhong4 qing4", "source": "api"},
            {"word": "长沙", "reading": "chang2 sha1", "source": "file"},
        ]
        _speak(http, "从长沙到重庆。")
        assert engine.texts[-1] == "从[长沙]{chang2 sha1}到[重庆]{zhong4 qing4}。"


def test_a_lexicon_file_with_a_bad_entry_stops_the_start_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "lexicon.yaml"
    file.write_text("重庆: chong2 qing4\n长沙: chang2 shaa1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="长沙"):
        create_app(tone_settings(tmp_path / "service", lexicon_file=str(file)), engine=ReadingEngine())
