"""Rate budgets: per API key (a key may be unlimited), trusted networks, and only real work counts:
a cache hit, or a request refused before any work, costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.reference_clips import real_speech_wav
from tests.support.standins import tone_app, tone_settings

LIMITS = {"enabled": True, "requests_per_minute": 30, "burst_size": 3}


def _say(http, text: str, **headers: str):
    return http.post("/api/v1/tts/synthesize", json={"text": text}, headers=headers)


def test_an_anonymous_client_is_limited_after_its_burst(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path, api={"rate_limit": LIMITS})) as (http, _):
        answers = [_say(http, f"第{n}句。").status_code for n in range(5)]
        assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]
        refused = _say(http, "再来一句。")
        assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1


def test_cache_hits_and_refused_requests_are_free(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path, api={"rate_limit": LIMITS})) as (http, engine):
        assert _say(http, "同一句话。").status_code == 200
        for _ in range(10):  # the same line again: answered from the cache
            hit = _say(http, "同一句话。")
            assert hit.status_code == 200 and hit.headers["X-Cache"] == "hit"
        for _ in range(10):  # refused before any work
            assert _say(http, "   ").status_code == 422
            assert http.post("/api/v1/tts/synthesize", json={"text": "x", "voice_id": "nobody"}).status_code == 404
        assert engine.syntheses == 1
        assert [_say(http, f"新的第{n}句。").status_code for n in range(3)] == [200, 200, 429]


def test_an_unlimited_key_is_never_limited_and_others_still_are(tmp_path: Path) -> None:
    api = {"rate_limit": LIMITS, "auth": {"api_keys": ["public-key"], "unlimited_keys": ["backend-key"]}}
    with tone_app(tone_settings(tmp_path, api=api)) as (http, _):
        backend = {"Authorization": "Bearer backend-key"}
        assert all(_say(http, f"后端第{n}句。", **backend).status_code == 200 for n in range(12))
        public = [_say(http, f"公开第{n}句。", **{"X-API-Key": "public-key"}).status_code for n in range(4)]
        assert public == [200, 200, 200, 429]
        assert _say(http, "没有钥匙。").status_code == 401


def test_a_key_with_its_own_budget(tmp_path: Path) -> None:
    api = {"rate_limit": LIMITS, "auth": {"keys": [{"key": "big", "name": "batch", "burst_size": 6}]}}
    with tone_app(tone_settings(tmp_path, api=api)) as (http, _):
        answers = [_say(http, f"批量第{n}句。", Authorization="Bearer big").status_code for n in range(7)]
        assert answers == [200] * 6 + [429]


@pytest.mark.parametrize(("address", "limited"), [("10.1.2.3", False), ("192.0.2.7", True)])
def test_a_trusted_network_needs_no_key_and_has_no_limit(tmp_path: Path, address: str, limited: bool) -> None:
    api = {"rate_limit": LIMITS, "auth": {"api_keys": ["k"]}, "trusted_networks": ["10.0.0.0/8"]}
    with tone_app(tone_settings(tmp_path, api=api), client=(address, 40000)) as (http, _):
        answers = {_say(http, f"第{n}句。").status_code for n in range(12)}
        assert answers == ({401} if limited else {200})


def test_a_one_shot_reference_seen_before_and_a_cached_line_cost_nothing(tmp_path: Path) -> None:
    reference = real_speech_wav()
    with tone_app(tone_settings(tmp_path, api={"rate_limit": LIMITS})) as (http, engine):

        def post(text: str):
            files = {"audio_file": ("旁白.wav", reference, "audio/wav")}
            return http.post("/api/v1/tts/synthesize_file", data={"text": text}, files=files)

        assert post("第一句。").status_code == 200
        for _ in range(6):
            again = post("第一句。")
            assert again.status_code == 200 and again.headers["X-Voice-Prepared"] == "reused"
            assert again.headers["X-Cache"] == "hit"
        assert engine.preparations == 1
        assert [post(f"第{n}句。").status_code for n in range(2, 5)] == [200, 200, 429]


def test_reads_are_free_and_never_refused_for_the_budget(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path, api={"rate_limit": LIMITS})) as (http, _):
        assert [_say(http, f"第{n}句。").status_code for n in range(4)] == [200, 200, 200, 429]
        for _ in range(20):
            assert http.get("/api/v1/voices").status_code == 200
            assert http.get("/api/v1/voices/tone_low").status_code == 200
