"""Streamed synthesis: first audio early, the same samples as a whole response, cancellation."""

from __future__ import annotations

import time

import httpx
import numpy as np

from tests.support.audio import decode
from tests.support.server import ServerProcess

LONG_TEXT = (
    "今天早上，我们一起去了公园。公园里有很多人在散步，也有人在打太极拳。"
    "孩子们在草地上奔跑，老人们坐在长椅上聊天。湖边的柳树随风摆动，水面上有几只小船。"
    "中午的时候，我们在附近的小饭馆吃了午饭，味道非常好。下午我们去了博物馆，看了很多古代的文物。"
)


def _stream(
    client: httpx.Client, fmt: str, text: str = LONG_TEXT, voice: str = "voice_002"
) -> tuple[list[tuple[float, bytes]], float]:
    """(arrival time of each chunk relative to the request, chunk) and the total time."""
    chunks: list[tuple[float, bytes]] = []
    started = time.perf_counter()
    body = {"text": text, "voice_id": voice, "format": fmt, "stream": True}
    with client.stream("POST", "/api/v1/tts/synthesize", json=body) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_raw():
            chunks.append((time.perf_counter() - started, chunk))
    return chunks, time.perf_counter() - started


def test_first_audio_arrives_long_before_the_whole_text_is_done(client: httpx.Client) -> None:
    chunks, total = _stream(client, "pcm", LONG_TEXT + "今天真开心。")  # not cached yet
    first_at = chunks[0][0]
    print(f"first chunk {first_at:.2f} s of {total:.2f} s, {len(chunks)} chunks")
    assert len(chunks) > 3
    assert first_at < 0.35 * total


def test_stream_carries_the_same_audio_as_the_whole_response(client: httpx.Client) -> None:
    text = "这是第一句。这是第二句，稍微长一点。"
    # WAV whole, PCM streamed: two cache keys, so both are really synthesized.
    whole = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "voice_003", "format": "wav"})
    streamed, _ = _stream(client, "pcm", text, voice="voice_003")
    assert whole.headers["X-Cache"] == "miss"
    a = np.frombuffer(whole.content[44:], "<i2")
    b = np.frombuffer(b"".join(chunk for _, chunk in streamed), "<i2")
    assert a.size == b.size
    assert np.max(np.abs(a.astype(np.int32) - b)) <= 1


def test_wav_and_compressed_streams_decode(client: httpx.Client) -> None:
    for fmt in ("wav", "mp3", "opus"):
        chunks, _ = _stream(client, fmt, f"流式{fmt}测试。第二句话在这里。")
        data = b"".join(chunk for _, chunk in chunks)
        samples, rate = decode(data)
        assert len(samples) / rate > 1.0, fmt
        if fmt == "wav":
            assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff"


def _depth(client: httpx.Client) -> int:
    return client.get("/health").json()["queue"]["depth"]


def _pieces(server: ServerProcess) -> dict[str, float]:
    """megatts3_pieces_total by outcome: spoken by the engine, or dropped by a cancel."""
    counts = {"spoken": 0.0, "dropped": 0.0}
    for line in httpx.get(server.metrics_url, timeout=10).text.splitlines():
        if line.startswith("megatts3_pieces_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = float(line.split()[-1])
    return counts


def test_disconnecting_client_cancels_the_remaining_work(client: httpx.Client, server: ServerProcess) -> None:
    text = LONG_TEXT * 3
    body = {"text": text, "voice_id": "voice_004", "format": "pcm", "stream": True}
    before = _pieces(server)
    with client.stream("POST", "/api/v1/tts/synthesize", json=body) as response:
        next(response.iter_raw())
    # Whatever the machine's speed: the slot is freed, and most pieces are never spoken but dropped.
    deadline = time.perf_counter() + 300  # a safety bound, not the measure
    while _depth(client) and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert _depth(client) == 0
    after = _pieces(server)
    spoken, dropped = after["spoken"] - before["spoken"], after["dropped"] - before["dropped"]
    print(f"after the disconnect: {spoken:g} pieces spoken, {dropped:g} dropped")
    assert dropped > spoken
