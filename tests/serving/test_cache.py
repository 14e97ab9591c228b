"""The in-process synthesis cache: identical bytes on a hit, keys that follow every parameter."""

from __future__ import annotations

import httpx


def test_repeat_request_is_a_cache_hit_with_identical_bytes(client: httpx.Client) -> None:
    body = {"text": "缓存测试，同样的请求返回同样的字节。", "voice_id": "voice_001", "format": "mp3"}
    first = client.post("/api/v1/tts/synthesize", json=body)
    second = client.post("/api/v1/tts/synthesize", json=body)
    assert first.status_code == second.status_code == 200
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert first.headers["X-Audio-Duration"] == second.headers["X-Audio-Duration"]


def test_every_output_parameter_is_part_of_the_key(client: httpx.Client) -> None:
    base = {"text": "键里有每一个参数。", "voice_id": "voice_001", "format": "wav"}
    client.post("/api/v1/tts/synthesize", json=base)
    for change in (
        {"voice_id": "voice_002"},
        {"format": "flac"},
        {"parameters": {"speed": 1.2}},
        {"parameters": {"pitch": 1.2}},
    ):
        response = client.post("/api/v1/tts/synthesize", json={**base, **change})
        assert response.headers["X-Cache"] == "miss", change


def test_deleting_a_voice_drops_its_cached_audio(client: httpx.Client, reference_wav: bytes) -> None:
    files = {"voice_file": ("ref.wav", reference_wav, "audio/wav")}
    assert client.post("/api/v1/voices/upload", files=files, data={"voice_id": "cached_voice"}).status_code == 201
    body = {"text": "删除声音后缓存失效。", "voice_id": "cached_voice"}
    assert client.post("/api/v1/tts/synthesize", json=body).headers["X-Cache"] == "miss"
    assert client.post("/api/v1/tts/synthesize", json=body).headers["X-Cache"] == "hit"
    assert client.delete("/api/v1/voices/cached_voice").status_code == 200
    assert client.post("/api/v1/tts/synthesize", json=body).status_code == 404
    assert client.post("/api/v1/voices/upload", files=files, data={"voice_id": "cached_voice"}).status_code == 201
    assert client.post("/api/v1/tts/synthesize", json=body).headers["X-Cache"] == "miss"
    client.delete("/api/v1/voices/cached_voice")
