"""POST /api/v1/tts/synthesize_file: one-shot synthesis from an uploaded reference."""

from __future__ import annotations

import io
import wave

import httpx
import pytest


def _post(client: httpx.Client, fixtures, name: str, with_latent: bool, **data: object) -> httpx.Response:
    files = {"voice_file": (f"{name}.wav", (fixtures / f"{name}.wav").read_bytes(), "audio/wav")}
    if with_latent:
        files["voice_latent"] = (f"{name}.npy", (fixtures / f"{name}.npy").read_bytes(), "application/octet-stream")
    return client.post("/api/v1/tts/synthesize_file", files=files, data={"text": "你好，欢迎使用语音合成。", **data})


@pytest.mark.parametrize("with_latent", [False, True])
@pytest.mark.parametrize("name", ["Chinese_prompt", "English_prompt"])
def test_one_shot_with_reference_returns_wav_and_names_the_voice_used(
    client: httpx.Client, megatts3_fixtures, name: str, with_latent: bool
) -> None:
    response = _post(client, megatts3_fixtures, name, with_latent)
    assert response.status_code == 200, response.text
    with wave.open(io.BytesIO(response.content)) as wav:
        assert wav.getframerate() == 24000
        assert wav.getnframes() > 24000
    stock = {voice["name"] for voice in client.get("/api/v1/voices").json()["voices"] if voice["type"] == "builtin"}
    assert response.headers["X-Voice-Used"] in stock
    assert "closest" in response.headers["X-Voice-Note"]


def test_one_shot_speed_shortens_audio(client: httpx.Client, megatts3_fixtures) -> None:
    normal = _post(client, megatts3_fixtures, "Chinese_prompt", False)
    fast = _post(client, megatts3_fixtures, "Chinese_prompt", False, speed="1.6")
    assert float(fast.headers["X-Audio-Duration"]) < 0.8 * float(normal.headers["X-Audio-Duration"])


def test_one_shot_errors(client: httpx.Client, megatts3_fixtures) -> None:
    wav = (megatts3_fixtures / "Chinese_prompt.wav").read_bytes()
    empty = client.post("/api/v1/tts/synthesize_file", files={"voice_file": ("a.wav", wav)}, data={"text": "  "})
    assert empty.json()["error"]["code"] == "empty_text"
    bad = client.post("/api/v1/tts/synthesize_file", files={"voice_file": ("a.wav", b"nonsense")}, data={"text": "hi"})
    assert bad.status_code == 415
    assert bad.json()["error"]["code"] == "invalid_audio"
    latent = client.post(
        "/api/v1/tts/synthesize_file",
        files={"voice_file": ("a.wav", wav), "voice_latent": ("a.npy", b"not numpy")},
        data={"text": "hi"},
    )
    assert latent.status_code == 422
    assert latent.json()["error"]["code"] == "invalid_latent"
    speed = client.post(
        "/api/v1/tts/synthesize_file", files={"voice_file": ("a.wav", wav)}, data={"text": "hi", "speed": "7"}
    )
    assert speed.status_code == 422


def test_the_same_reference_is_prepared_once(client: httpx.Client, reference_wav: bytes) -> None:
    def post(audio: bytes, text: str) -> httpx.Response:
        files = {"voice_file": ("ref.wav", audio, "audio/wav")}
        response = client.post("/api/v1/tts/synthesize_file", files=files, data={"text": text})
        assert response.status_code == 200, response.text
        return response

    first = post(reference_wav, "第一行台词。")
    again = post(reference_wav, "第二行台词。")
    assert (first.headers["X-Voice-Prepared"], again.headers["X-Voice-Prepared"]) == ("new", "reused")
    assert first.headers["X-Voice-Id"] == again.headers["X-Voice-Id"]
    # Other content (here: the same audio with a different tail) is prepared anew.
    assert post(reference_wav + b"\0\0", "第三行台词。").headers["X-Voice-Prepared"] == "new"
