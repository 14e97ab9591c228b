"""The MegaTTS3 engine served over HTTP, on small random-weight checkpoints in the official layout."""

from __future__ import annotations

import concurrent.futures
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.audio import decode
from tests.support.megatts3 import (
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
    megatts3_model_settings,
    random_checkpoint_tree,
    reference_voice,
)
from tests.support.server import ServerProcess, running_server, write_configs

ZH = "今天天气很好，我们去公园散步吧。"
EN = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint_tree(tmp_path_factory.mktemp("megatts3-checkpoints"))


@pytest.fixture(scope="module")
def server(checkpoints: Path, tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("megatts3-server")
    with running_server(folder, model_cache, model=megatts3_model_settings(checkpoints)) as process:
        yield process


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def voice(http: httpx.Client) -> str:
    wav, latent = reference_voice()
    response = http.post(
        "/api/v1/voices/upload",
        files={"voice_file": ("ref.wav", wav), "voice_latent": ("ref.npy", latent)},
        data={"voice_id": "speaker_a", "name": "Speaker A"},
    )
    assert response.status_code == 201, response.text
    return "speaker_a"


def _speak(http: httpx.Client, text: str, voice: str, fmt: str = "wav", **parameters: object) -> httpx.Response:
    body = {"text": text, "voice_id": voice, "format": fmt, "parameters": parameters}
    response = http.post("/api/v1/tts/synthesize", json=body)
    assert response.status_code == 200, response.text
    return response


def _pcm(response: httpx.Response) -> np.ndarray:
    return np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32768


def test_health_reports_the_megatts3_engine(http: httpx.Client) -> None:
    health = http.get("/health").json()
    assert health["model_loaded"] is True
    assert health["engine"]["name"] == "megatts3"
    assert health["engine"]["sample_rate"] == SAMPLE_RATE


def test_info_names_the_megatts3_model(http: httpx.Client) -> None:
    info = http.get("/api/v1/info").json()
    assert info["engine"]["name"] == "megatts3"
    assert info["model"] == {"name": "MegaTTS3-DIT", "type": "diffusion_transformer", "version": "1.0.0"}


def test_uploaded_voice_keeps_its_prepared_alignment(http: httpx.Client, voice: str) -> None:
    info = http.get(f"/api/v1/voices/{voice}").json()
    assert info["has_latent"] is True
    assert info["engine"] == "megatts3"
    assert info["summary"].startswith("aligned 10 phones")  # what the small tree's scripted aligner writes


@pytest.mark.parametrize("text", [ZH, EN])
def test_synthesize_gives_24khz_audio_in_whole_latent_frames(http: httpx.Client, voice: str, text: str) -> None:
    response = _speak(http, text, voice, seed=1)
    samples, rate = decode(response.content)
    assert rate == SAMPLE_RATE
    assert len(samples) > SAMPLES_PER_LATENT
    assert np.isfinite(samples).all()
    assert float(response.headers["X-Audio-Duration"]) == pytest.approx(len(samples) / rate, abs=0.01)


def test_same_seed_same_audio_and_another_seed_other_audio(http: httpx.Client, voice: str) -> None:
    # Different formats are different cache entries, so both are synthesized.
    first = _pcm(_speak(http, EN, voice, "pcm", seed=11))
    samples, _ = decode(_speak(http, EN, voice, "wav", seed=11).content)
    assert np.array_equal(first, samples[: len(first)]) and len(first) == len(samples)
    other = _pcm(_speak(http, EN, voice, "pcm", seed=12))
    assert len(other) != len(first) or not np.allclose(other, first, atol=1e-3)


def test_slower_speed_gives_longer_audio(http: httpx.Client, voice: str) -> None:
    normal = _pcm(_speak(http, ZH, voice, "pcm", seed=3))
    slow = _pcm(_speak(http, ZH, voice, "pcm", seed=3, speed=0.5))
    assert len(slow) > 1.5 * len(normal)


def test_guidance_and_steps_are_request_parameters(http: httpx.Client, voice: str) -> None:
    base = _pcm(_speak(http, EN, voice, "pcm", seed=5))
    changed = _pcm(_speak(http, EN, voice, "pcm", seed=5, p_w=0.0, t_w=0.0, time_step=2))
    assert len(base) == len(changed)  # durations do not depend on the sampler
    assert not np.allclose(base, changed, atol=1e-3)
    bad = http.post("/api/v1/tts/synthesize", json={"text": EN, "voice_id": voice, "parameters": {"time_step": 0}})
    assert bad.status_code == 422


def test_concurrent_requests_are_batched_without_changing_their_audio(http: httpx.Client, voice: str) -> None:
    texts = [f"{EN} Number {word}." for word in ("one", "two", "three", "four")]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda text: _pcm(_speak(http, text, voice, "pcm", seed=21)), texts))
    alone = [decode(_speak(http, text, voice, "wav", seed=21).content)[0] for text in texts]
    for batched, single in zip(together, alone, strict=True):
        assert len(batched) == len(single)
        assert np.max(np.abs(batched - single)) <= 2 / 32768


def test_one_shot_synthesis_prepares_a_reference_once(http: httpx.Client) -> None:
    wav, latent = reference_voice(seed=4)
    files = {"voice_file": ("ref.wav", wav), "voice_latent": ("ref.npy", latent)}
    first = http.post("/api/v1/tts/synthesize_file", files=files, data={"text": ZH, "seed": "2"})
    assert first.status_code == 200, first.text
    again = http.post("/api/v1/tts/synthesize_file", files=files, data={"text": EN, "seed": "2"})
    assert again.status_code == 200, again.text
    assert (first.headers["X-Voice-Prepared"], again.headers["X-Voice-Prepared"]) == ("new", "reused")


def test_a_reference_without_its_latent_is_refused(http: httpx.Client) -> None:
    wav, _ = reference_voice()
    response = http.post(
        "/api/v1/voices/upload", files={"voice_file": ("ref.wav", wav)}, data={"voice_id": "no_latent"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "latent_required"
    assert http.get("/api/v1/voices/no_latent").status_code == 404


def test_a_latent_shorter_than_its_recording_is_refused(http: httpx.Client) -> None:
    wav, _ = reference_voice()
    short = np.zeros((1, 10, 32), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, short)
    files = {"voice_file": ("ref.wav", wav), "voice_latent": ("ref.npy", buffer.getvalue())}
    response = http.post("/api/v1/voices/upload", files=files, data={"voice_id": "short_latent"})
    assert response.status_code == 422
    assert "frames" in response.json()["error"]["message"]


def test_streaming_and_openai_routes_speak_in_the_cloned_voice(http: httpx.Client, voice: str) -> None:
    with http.stream(
        "POST", "/api/v1/tts/synthesize", json={"text": f"{ZH}{ZH}", "voice_id": voice, "stream": True, "format": "pcm"}
    ) as response:
        assert response.status_code == 200
        streamed = b"".join(response.iter_bytes())
    assert len(streamed) > 2 * SAMPLES_PER_LATENT
    speech = http.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": EN, "voice": voice, "response_format": "wav"}
    )
    assert speech.status_code == 200, speech.text
    assert decode(speech.content)[1] == SAMPLE_RATE


def test_missing_checkpoint_folder_stops_start_up_with_its_name(tmp_path: Path, checkpoints: Path) -> None:
    partial = tmp_path / "checkpoints"
    partial.mkdir()
    for name in ("g2p", "aligner_lm", "duration_lm", "wavvae"):
        (partial / name).symlink_to(checkpoints / name)
    model_config, api_config = write_configs(
        tmp_path / "config",
        storage=tmp_path / "storage",
        cache=tmp_path / "cache",
        model=megatts3_model_settings(partial),
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "megatts3_server",
            "serve",
            "--config",
            str(api_config),
            "--model-config",
            str(model_config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert str(partial / "diffusion_transformer") in done.stderr
    assert "ByteDance/MegaTTS3" in done.stderr
