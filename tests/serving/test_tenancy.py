"""Tenants, through the real app over a stand-in engine: with API keys configured, each key sees only the
voices, jobs and lexicon entries it stored (another key gets 404, as for nothing), an admin key sees and
manages all, the cache and one-shot references are kept apart, and a forged X-Forwarded-For buys no
trust. (Without keys nothing changes: the rest of tests/serving runs that way.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from megatts3_server.engines.base import CancelToken, EngineCapabilities, VoiceContext
from tests.support.reference_clips import real_speech_wav
from tests.support.server import free_port
from tests.support.standins import RATE, ToneEngine, tone_app, tone_settings

AUTH = {
    "keys": [{"key": "alice-key", "name": "alice"}, {"key": "bob-key", "name": "bob"}],
    "api_keys": ["carol-key"],
    "admin_keys": ["root-key"],
}
ALICE, BOB, CAROL, ROOT = ({"Authorization": f"Bearer {key}-key"} for key in ("alice", "bob", "carol", "root"))


class RecordingEngine(ToneEngine):
    """A tone engine that takes readings and keeps every text it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("tone", RATE, ("zh", "en"), frozenset({"neutral"}), readings=True)

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> Any:
        self.texts.append(text)
        return super().synthesize(text, voice, speed=speed, cancel=cancel)


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[tuple[TestClient, RecordingEngine]]:
    with tone_app(tone_settings(tmp_path, api={"auth": AUTH}), RecordingEngine()) as (http, engine):
        yield http, engine


def _upload(http: TestClient, voice_id: str, headers: dict[str, str]) -> Any:
    return http.post(
        "/api/v1/voices/upload", data={"voice_id": voice_id}, files={"voice_file": real_speech_wav()}, headers=headers
    )


def _finished(http: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (job := http.get(f"/api/v1/tts/jobs/{job_id}", headers=headers).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def _ids(http: TestClient, path: str, key: str, headers: dict[str, str]) -> set[str]:
    return {item["id"] for item in http.get(path, headers=headers).json()[key]}


def test_a_voice_is_its_uploaders_only_and_the_admins(tenants) -> None:
    http, _ = tenants
    assert _upload(http, "narrator", ALICE).status_code == 201
    assert "narrator" in _ids(http, "/api/v1/voices", "voices", ALICE)
    assert "narrator" not in _ids(http, "/api/v1/voices", "voices", BOB)
    assert "narrator" not in _ids(http, "/v1/audio/voices", "voices", BOB)
    for answer in (
        http.get("/api/v1/voices/narrator", headers=BOB),
        http.delete("/api/v1/voices/NARRATOR", headers=BOB),
        http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "narrator"}, headers=BOB),
        http.post("/v1/audio/speech", json={"model": "tts-1", "input": "你好。", "voice": "narrator"}, headers=BOB),
    ):
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "voice_not_found"), answer.text
    refused_job = http.post("/api/v1/tts/jobs", json={"text": "你好。", "voice_id": "narrator"}, headers=BOB)
    assert refused_job.status_code == 422 and "narrator" in refused_job.json()["error"]["details"]["voices"]
    # Ids are one space: Bob cannot take the id, and is told nothing about the voice holding it.
    taken = _upload(http, "narrator", BOB)
    assert taken.status_code == 409 and "taken" in taken.json()["error"]["message"]
    assert http.get("/api/v1/voices/narrator", headers=ALICE).json()["status"] == "ready"
    spoken = http.post("/api/v1/tts/synthesize", json={"text": "你好。", "voice_id": "narrator"}, headers=ALICE)
    assert spoken.status_code == 200
    # The admin sees it, speaks with it and may delete it; then it is gone for Alice too.
    assert "narrator" in _ids(http, "/api/v1/voices", "voices", ROOT)
    assert http.get("/api/v1/voices/narrator", headers=ROOT).status_code == 200
    assert http.delete("/api/v1/voices/narrator", headers=ROOT).status_code == 200
    assert http.get("/api/v1/voices/narrator", headers=ALICE).status_code == 404


def test_a_job_is_its_submitters_only_and_the_admins(tenants) -> None:
    http, _ = tenants
    created = http.post("/api/v1/tts/jobs", json={"text": "第一段。\n第二段。", "voice_id": "tone_low"}, headers=ALICE)
    assert created.status_code == 202
    job = created.json()["id"]
    assert _finished(http, job, ALICE)["status"] == "done"
    assert _ids(http, "/api/v1/tts/jobs", "jobs", BOB) == set()
    assert _ids(http, "/api/v1/tts/jobs", "jobs", CAROL) == set()
    for suffix in ("", "/events", "/audio", "/timestamps", "/subtitles.srt", "/subtitles.vtt"):
        answer = http.get(f"/api/v1/tts/jobs/{job}{suffix}", headers=BOB)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "job_not_found"), suffix
    assert http.delete(f"/api/v1/tts/jobs/{job}", headers=BOB).status_code == 404
    assert http.get(f"/api/v1/tts/jobs/{job}/audio", headers=ALICE).status_code == 200
    assert _ids(http, "/api/v1/tts/jobs", "jobs", ROOT) == {job}
    assert http.get(f"/api/v1/tts/jobs/{job}/timestamps", headers=ROOT).status_code == 200
    assert http.delete(f"/api/v1/tts/jobs/{job}", headers=ROOT).json() == {"id": job, "deleted": True}
    assert _ids(http, "/api/v1/tts/jobs", "jobs", ALICE) == set()


def test_a_job_speaks_its_tenants_voices_and_reuses_only_its_segments(tenants) -> None:
    http, engine = tenants
    assert _upload(http, "alices", ALICE).status_code == 201
    body = {"script": [{"voice_id": "alices", "text": "她的声音。"}, {"voice_id": "tone_low", "text": "共同的一句。"}]}
    first = http.post("/api/v1/tts/jobs", json=body, headers=ALICE).json()["id"]
    assert _finished(http, first, ALICE)["segments_done"] == 2
    made = engine.syntheses
    # The same built-in line in Bob's job is made again for him, not taken from Alice's.
    second = http.post("/api/v1/tts/jobs", json={"script": body["script"][1:]}, headers=BOB).json()["id"]
    assert _finished(http, second, BOB)["segments_done"] == 1
    assert engine.syntheses > made


def test_lexicon_entries_are_their_tenants_and_the_admins_are_shared(tenants) -> None:
    http, engine = tenants
    assert http.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"}, headers=ALICE).status_code == 200
    assert http.put("/api/v1/lexicon/行长", json={"reading": "hang2 zhang3"}, headers=ROOT).status_code == 200
    listed = {(e["word"], e["source"]) for e in http.get("/api/v1/lexicon", headers=ALICE).json()["entries"]}
    assert listed == {("重庆", "api"), ("行长", "shared")}
    assert {e["word"] for e in http.get("/api/v1/lexicon", headers=BOB).json()["entries"]} == {"行长"}
    assert http.delete("/api/v1/lexicon/重庆", headers=BOB).status_code == 404
    assert http.get("/api/v1/lexicon", params={"owner": "key:alice"}, headers=BOB).status_code == 404
    # Each one's requests read its own entries over the shared ones.
    line = {"text": "重庆的行长。", "voice_id": "tone_low"}
    for headers in (ALICE, BOB):
        assert http.post("/api/v1/tts/synthesize", json=line, headers=headers).status_code == 200
    alices, bobs = engine.texts[-2:]
    assert "zhong4 qing4" in alices and "hang2 zhang3" in alices
    assert "zhong4" not in bobs and "hang2 zhang3" in bobs
    # The admin reads and manages any tenant's entries by naming it.
    owned = http.get("/api/v1/lexicon", params={"owner": "key:alice"}, headers=ROOT).json()["entries"]
    assert {e["word"] for e in owned if e["source"] == "api"} == {"重庆"}
    assert http.delete("/api/v1/lexicon/重庆", params={"owner": "key:alice"}, headers=ROOT).status_code == 204
    assert {e["word"] for e in http.get("/api/v1/lexicon", headers=ALICE).json()["entries"]} == {"行长"}


def test_the_cache_and_one_shot_references_are_kept_per_tenant(tenants) -> None:
    http, engine = tenants
    line = {"text": "同一句话。", "voice_id": "tone_high"}
    assert http.post("/api/v1/tts/synthesize", json=line, headers=ALICE).headers["X-Cache"] == "miss"
    assert http.post("/api/v1/tts/synthesize", json=line, headers=ALICE).headers["X-Cache"] == "hit"
    assert http.post("/api/v1/tts/synthesize", json=line, headers=BOB).headers["X-Cache"] == "miss"

    def one_shot(headers: dict[str, str]) -> str:
        files = {"audio_file": ("ref.wav", real_speech_wav(), "audio/wav")}
        answer = http.post("/api/v1/tts/synthesize_file", data={"text": "一句。"}, files=files, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.headers["X-Voice-Prepared"]

    assert [one_shot(ALICE), one_shot(ALICE), one_shot(BOB)] == ["new", "reused", "new"]
    assert engine.preparations == 2


def test_a_trusted_network_is_the_default_tenant_unless_it_names_a_key(tmp_path: Path) -> None:
    settings = tone_settings(tmp_path, api={"auth": AUTH, "trusted_networks": ["10.0.0.0/8"]})
    with tone_app(settings, client=("10.1.2.3", 40000)) as (http, _):
        assert _upload(http, "backends", {}).status_code == 201
        assert _upload(http, "alices", ALICE).status_code == 201
        assert _ids(http, "/api/v1/voices", "voices", {}) >= {"backends"}
        assert "alices" not in _ids(http, "/api/v1/voices", "voices", {})
        assert "backends" not in _ids(http, "/api/v1/voices", "voices", ALICE)
        assert http.get("/api/v1/voices/backends", headers=ROOT).status_code == 200


def test_a_forged_forwarded_address_buys_no_trust(tmp_path: Path) -> None:
    api = {"auth": {"api_keys": ["k"]}, "trusted_networks": ["10.0.0.0/8"]}
    claim = {"X-Forwarded-For": "10.1.2.3"}
    with tone_app(tone_settings(tmp_path / "direct", api=api)) as (http, _):
        refused = http.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"}, headers=claim)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
        assert http.get("/api/v1/lexicon", headers={**claim, "Authorization": "Bearer k"}).json()["entries"] == []
    # A proxy named in the config may name the client: then the trusted network is the client's.
    proxied = {**api, "forwarded_allow_ips": "127.0.0.1"}
    with tone_app(tone_settings(tmp_path / "proxied", api=proxied)) as (http, _):
        assert http.get("/api/v1/voices", headers=claim).status_code == 200
        assert http.get("/api/v1/voices", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 401


def test_the_metrics_listener_binds_loopback_unless_told(tmp_path: Path) -> None:
    for host in (None, "0.0.0.0"):
        port = free_port()
        monitoring = {"enabled": True, "metrics_port": port, **({"metrics_host": host} if host else {})}
        with tone_app(tone_settings(tmp_path / str(host), api={"monitoring": monitoring})):
            bound = {
                conn.laddr.ip
                for conn in psutil.Process().net_connections(kind="tcp")
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
            }
        assert bound == {host or "127.0.0.1"}
