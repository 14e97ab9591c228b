"""The official openai SDK, unchanged, against the OpenAI-compatible routes."""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest

from tests.support.audio import decode
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def sdk(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="not-needed", max_retries=0)


def test_speech_create_returns_decodable_mp3(sdk: openai.OpenAI) -> None:
    response = sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the OpenAI SDK.")
    data = response.read()
    assert data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    samples, rate = decode(data)
    assert len(samples) / rate > 1.0


def test_streaming_response_and_formats(sdk: openai.OpenAI) -> None:
    with sdk.audio.speech.with_streaming_response.create(
        model="megatts3", voice="voice_002", input="流式的OpenAI接口。第二句话。", response_format="wav", speed=1.2
    ) as response:
        data = b"".join(response.iter_bytes())
    assert data[:4] == b"RIFF"
    assert len(decode(data)[0]) > 0


def test_models_are_listed(sdk: openai.OpenAI) -> None:
    assert {"tts-1", "megatts3"} <= {model.id for model in sdk.models.list()}


def test_errors_reach_the_sdk_as_api_errors(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.audio.speech.create(model="tts-1", voice="no_such_voice", input="hi")
    with pytest.raises(openai.NotFoundError):
        sdk.audio.speech.create(model="no-such-model", voice="alloy", input="hi")
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.audio.speech.create(model="tts-1", voice="alloy", input="   ")


def test_sse_stream_format(client: httpx.Client) -> None:
    body = {"model": "tts-1", "voice": "nova", "input": "SSE events.", "response_format": "pcm", "stream_format": "sse"}
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert len(audio) > 24000  # more than half a second of 16-bit audio


def _first_audio_count(server: ServerProcess) -> float:
    """How many responses went out as streams: megatts3_first_audio_latency_seconds' count."""
    text = httpx.get(server.metrics_url, timeout=10).text
    line = next(row for row in text.splitlines() if row.startswith("megatts3_first_audio_latency_seconds_count"))
    return float(line.split()[-1])


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_speech_streams_by_default_and_create_still_gets_the_whole_file(
    sdk: openai.OpenAI, server: ServerProcess, response_format: str
) -> None:
    text = f"第一句话先出来。The second sentence follows in {response_format}."
    before = _first_audio_count(server)
    streamed = sdk.audio.speech.create(model="tts-1", voice="nova", input=text, response_format=response_format)
    assert _first_audio_count(server) == before + 1  # it went out sentence by sentence
    assert "x-audio-duration" not in streamed.response.headers
    whole = sdk.audio.speech.create(
        model="tts-1", voice="nova", input=text, response_format=response_format, extra_body={"stream": False}
    )
    assert _first_audio_count(server) == before + 1
    duration = float(whole.response.headers["x-audio-duration"])
    if response_format == "pcm":
        assert len(streamed.content) == len(whole.content) == pytest.approx(2 * 24_000 * duration, abs=2)
        return
    samples, rate = decode(streamed.content)
    # The streamed file decodes to the whole speech (codec priming and padding aside: AAC's is ~0.1 s),
    # as the unstreamed one does.
    assert len(samples) / rate == pytest.approx(duration, abs=0.15)
    assert len(decode(whole.content)[0]) / rate == pytest.approx(duration, abs=0.15)
