"""AI-Sound's backend, replayed against the service as `make serve` runs it plus the settings the
docs/deploy.md's "Running behind AI-Sound" section gives the platform's operators: every call is 200 with a
WAV the platform can read. (The calls themselves: tests/platform/ai_sound_backend.py.)"""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.platform.ai_sound_backend import AISoundBackend, Call, read_wav_like_pydub
from tests.support.audio import decode, encode
from tests.support.server import ServerProcess, free_port, running_default_server

# docs/deploy.md, "Running behind AI-Sound": the port the platform calls, and its backend trusted (it sends
# no API key, and one backend speaks for all of the platform's users). Here the backend is on loopback.
PLATFORM_ENV = {"API_PORT": str(free_port()), "MEGATTS3_TRUSTED_NETWORKS": "127.0.0.0/8"}

NOVEL = [  # (speaker, text): a chapter as novel_reader.py sends it, one segment after another
    ("旁白", "夜深了，窗外下起了小雨。"),
    ("林清雅", "“你还没睡？”"),
    ("旁白", "林清雅推开门，轻声问道。"),
    ("张三", "“睡不着，在想明天的事。”"),
    ("旁白", "张三放下手里的书，抬头看了她一眼。"),
    ("林清雅", "“别想太多了，早点休息吧。”"),
    ("旁白", "她走到窗边，拉上了窗帘。"),
    ("张三", "“你说，我们真的能赶上那班火车吗？”"),
    ("林清雅", "“能的，我已经订好了车票。”"),
    ("旁白", "雨声渐渐小了，远处传来几声狗叫。"),
    ("张三", "“那就好。”"),
    ("旁白", "他关掉台灯，房间里一片漆黑。"),
    ("林清雅", "“晚安。”"),
    ("旁白", "第二天清晨，阳光洒进了小屋。"),
]


@pytest.fixture(scope="module")
def platform_server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    with running_default_server(tmp_path_factory.mktemp("ai-sound"), model_cache, PLATFORM_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory, megatts3_fixtures: Path) -> dict[str, tuple[Path, Path | None]]:
    """The platform's character voices, as its files are named (Chinese basenames); one is an MP3
    without a latent (the backend still sends it as audio/wav)."""
    folder = tmp_path_factory.mktemp("voice-profiles")
    made: dict[str, tuple[Path, Path | None]] = {}
    for speaker, prompt in (("旁白", "Chinese_prompt"), ("林清雅", "English_prompt")):
        wav, npy = folder / f"{speaker}.wav", folder / f"{speaker}.npy"
        shutil.copy(megatts3_fixtures / f"{prompt}.wav", wav)
        shutil.copy(megatts3_fixtures / f"{prompt}.npy", npy)
        made[speaker] = (wav, npy)
    samples, rate = decode((megatts3_fixtures / "Chinese_prompt.wav").read_bytes())
    mp3 = folder / "张三.mp3"
    mp3.write_bytes(encode(np.asarray(samples * 0.7, np.float32), rate, "mp3"))
    made["张三"] = (mp3, None)
    return made


def _assert_wav(call: Call) -> None:
    assert call.status == 200, f"{call.what}: {call.status} {call.body[:300]!r}"
    rate, channels, width, frames = read_wav_like_pydub(call.body)
    assert (channels, width) == (1, 2) and rate >= 16_000
    assert frames > rate // 4, f"{call.what}: only {frames} frames"


def _gate(backend: AISoundBackend, timeout: float = 300) -> None:
    """What the platform's operators see: the health gate opens once the engine can synthesize."""
    deadline = time.monotonic() + timeout
    while not backend.health_gate():
        assert time.monotonic() < deadline, "the health gate never opened"
        time.sleep(0.5)


def test_preview_and_clone_sample(platform_server: ServerProcess, voices) -> None:
    backend = AISoundBackend(platform_server.base_url)
    _gate(backend)
    wav, npy = voices["旁白"]
    # app/api/v1/tts.py: a preview with the preview parameters, no latent.
    _assert_wav(backend.synthesize("preview", "你好，这是我的声音。", wav, None, 20, 1.0, 1.0))
    # app/voice_clone.py synthesize_speech: the clone sample, reference and latent.
    _assert_wav(backend.synthesize("clone sample", "欢迎使用语音克隆功能。", wav, npy, 20, 1.0, 1.0))


def test_the_27_call_parameter_grid(platform_server: ServerProcess, voices) -> None:
    backend = AISoundBackend(platform_server.base_url)
    _gate(backend)
    wav, _ = voices["林清雅"]
    grid = itertools.product([15, 20, 25], [0.8, 1.0, 1.2], [0.8, 1.0, 1.2])
    for time_step, p_weight, t_weight in grid:
        call = backend.synthesize(
            f"grid {time_step}/{p_weight}/{t_weight}", "这是参数测试。", wav, None, *(time_step, p_weight, t_weight)
        )
        _assert_wav(call)
    assert len(backend.calls) == 27


def test_a_fourteen_segment_novel(platform_server: ServerProcess, voices) -> None:
    backend = AISoundBackend(platform_server.base_url)
    _gate(backend)  # novel_reader.py: one gate, then every segment strictly in turn
    for number, (speaker, text) in enumerate(NOVEL, start=1):
        reference, latent = voices[speaker]
        _assert_wav(backend.synthesize(f"segment {number} ({speaker})", text, reference, latent))
    assert [call.status for call in backend.calls] == [200] * len(NOVEL)
    # Each character's reference is prepared once; the segments after that reuse it.
    prepared = [call.headers.get("x-voice-prepared") for call in backend.calls]
    assert prepared.count("new") <= len(voices)
