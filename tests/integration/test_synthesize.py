"""POST /api/v1/tts/synthesize: audio formats, parameters that really change the audio, errors."""

from __future__ import annotations

import io
import wave

import httpx
import numpy as np
import pytest

from tests.support.audio import decode, median_f0

SPEC_EXAMPLE = {
    "text": "你好，这是MegaTTS3语音合成测试。",
    "voice_id": "voice_001",
    "parameters": {"speed": 1.0, "pitch": 1.0, "emotion": "neutral"},
}
ENGLISH = "The quick brown fox jumps over the lazy dog near the river bank."


def _synthesize(client: httpx.Client, **body: object) -> httpx.Response:
    return client.post("/api/v1/tts/synthesize", json={"voice_id": "voice_005", "text": ENGLISH, **body})


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error["message"]


def test_spec_example_returns_24khz_mono_wav(client: httpx.Client) -> None:
    response = client.post("/api/v1/tts/synthesize", json=SPEC_EXAMPLE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as wav:
        assert wav.getframerate() == 24000
        assert wav.getnchannels() == 1
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.5 < seconds < 8.0
    assert float(response.headers["X-Audio-Duration"]) == pytest.approx(seconds, abs=0.01)
    assert response.headers["X-Voice-Id"] == "voice_001"


def test_voice_id_defaults_to_the_configured_voice(client: httpx.Client) -> None:
    response = client.post("/api/v1/tts/synthesize", json={"text": "Hello there."})
    assert response.status_code == 200
    assert response.headers["X-Voice-Id"] == "voice_001"


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("mp3", "audio/mpeg", (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
        ("flac", "audio/flac", (b"fLaC",)),
        ("ogg", "audio/ogg", (b"OggS",)),
        ("opus", "audio/ogg", (b"OggS",)),
    ],
)
def test_compressed_formats_decode_to_the_same_length(
    client: httpx.Client, fmt: str, media_type: str, magic: tuple[bytes, ...]
) -> None:
    reference = _synthesize(client)
    wav_seconds = float(reference.headers["X-Audio-Duration"])
    response = _synthesize(client, format=fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert response.content.startswith(magic)
    samples, rate = decode(response.content)
    assert len(samples) / rate == pytest.approx(wav_seconds, abs=0.1)


def test_raw_pcm_is_16_bit_samples_without_header(client: httpx.Client) -> None:
    wav = _synthesize(client)
    pcm = _synthesize(client, format="pcm")
    assert pcm.status_code == 200
    assert pcm.headers["X-Sample-Rate"] == "24000"
    assert not pcm.content.startswith(b"RIFF")
    assert len(pcm.content) == len(wav.content) - 44


def test_speed_changes_duration(client: httpx.Client) -> None:
    normal = float(_synthesize(client).headers["X-Audio-Duration"])
    fast = float(_synthesize(client, parameters={"speed": 1.5}).headers["X-Audio-Duration"])
    slow = float(_synthesize(client, parameters={"speed": 0.75}).headers["X-Audio-Duration"])
    assert fast < normal * 0.8
    assert slow > normal * 1.2


def test_pitch_changes_pitch_but_not_duration(client: httpx.Client) -> None:
    normal = _synthesize(client)
    raised = _synthesize(client, parameters={"pitch": 1.3})
    base_samples, rate = decode(normal.content)
    high_samples, _ = decode(raised.content)
    assert len(high_samples) / rate == pytest.approx(len(base_samples) / rate, abs=0.05)
    ratio = median_f0(high_samples, rate) / median_f0(base_samples, rate)
    assert ratio == pytest.approx(1.3, rel=0.08)


def test_identical_requests_give_identical_audio(client: httpx.Client) -> None:
    assert _synthesize(client).content == _synthesize(client).content


def test_unsupported_emotion_is_spoken_neutral_and_reported(client: httpx.Client) -> None:
    response = _synthesize(client, parameters={"emotion": "happy"})
    assert response.status_code == 200
    assert response.headers["X-Emotion-Requested"] == "happy"
    assert response.headers["X-Emotion-Applied"] == "neutral"
    assert "not supported" in response.headers["X-Emotion-Warning"]


def test_neutral_emotion_has_no_warning(client: httpx.Client) -> None:
    response = _synthesize(client, parameters={"emotion": "neutral"})
    assert response.headers["X-Emotion-Applied"] == "neutral"
    assert "X-Emotion-Warning" not in response.headers


def test_long_text_is_split_and_joined(client: httpx.Client) -> None:
    text = " ".join([ENGLISH] * 8)  # ~520 characters: several pieces
    response = _synthesize(client, text=text)
    assert response.status_code == 200
    single = float(_synthesize(client).headers["X-Audio-Duration"])
    assert float(response.headers["X-Audio-Duration"]) > single * 6


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_rejected(client: httpx.Client, text: str) -> None:
    _error(_synthesize(client, text=text), 422, "empty_text")


def test_punctuation_only_text_is_rejected(client: httpx.Client) -> None:
    _error(_synthesize(client, text="。。。！"), 422, "empty_text")


def test_text_over_max_length_is_413(client: httpx.Client) -> None:
    message = _error(_synthesize(client, text="好" * 1001), 413, "text_too_long")
    assert "1000" in message


def test_unknown_voice_is_404(client: httpx.Client) -> None:
    _error(_synthesize(client, voice_id="no_such_voice"), 404, "voice_not_found")


def test_unsupported_format_is_422(client: httpx.Client) -> None:
    _error(_synthesize(client, format="aiff"), 422, "unsupported_format")


@pytest.mark.parametrize("parameters", [{"speed": 0}, {"speed": 9}, {"pitch": -1}, {"speed": "fast"}])
def test_out_of_range_parameters_are_422(client: httpx.Client, parameters: dict) -> None:
    message = _error(_synthesize(client, parameters=parameters), 422, "invalid_request")
    assert "parameters." in message


def test_unknown_field_is_422(client: httpx.Client) -> None:
    _error(_synthesize(client, volume=3), 422, "invalid_request")


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/tts/synthesize", content=b'{"text": "hi",', headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_json")


def test_missing_text_is_422(client: httpx.Client) -> None:
    response = client.post("/api/v1/tts/synthesize", json={"voice_id": "voice_001"})
    message = _error(response, 422, "invalid_request")
    assert "text" in message


def test_non_latin_emotion_does_not_break_headers(client: httpx.Client) -> None:
    response = _synthesize(client, parameters={"emotion": "开心"})
    assert response.status_code == 200
    assert response.headers["X-Emotion-Applied"] == "neutral"


def test_audio_is_not_clipped_or_silent(client: httpx.Client) -> None:
    samples, _ = decode(_synthesize(client).content)
    peak = float(np.abs(samples).max())
    assert 0.1 < peak <= 1.0


def test_a_reading_changes_the_audio_and_the_cache_never_serves_the_old_one(client: httpx.Client) -> None:
    text = "我们明天一早就去重庆。"
    default = _synthesize(client, text=text, voice_id="voice_002")
    request_own = _synthesize(client, text=text, voice_id="voice_002", lexicon={"重庆": "zhong4 qing4"})
    inline = _synthesize(client, text="我们明天一早就去[重庆]{zhong4 qing4}。", voice_id="voice_002")
    for response in (default, request_own, inline):
        assert response.status_code == 200, response.text
    assert request_own.content != default.content
    assert inline.content == request_own.content  # one reading, one audio, however it was asked for
    assert _synthesize(client, text=text, voice_id="voice_002").content == default.content  # it was that request's
    put = client.put("/api/v1/lexicon/重庆", json={"reading": "zhong4 qing4"})
    assert put.status_code == 200, put.text
    try:
        assert _synthesize(client, text=text, voice_id="voice_002").content == request_own.content
        beaten = _synthesize(client, text=text, voice_id="voice_002", lexicon={"重庆": "chong2 qing4"})
        assert beaten.content != request_own.content  # the request's own reading wins over the global one
    finally:
        assert client.delete("/api/v1/lexicon/重庆").status_code == 204
    assert _synthesize(client, text=text, voice_id="voice_002").content == default.content
