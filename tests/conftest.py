"""Shared fixtures: a real service on a loopback port, and an HTTP client for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, write_configs

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "megatts3"
# Small enough that the oversize test need not send much; large enough for every real test clip.
TEST_MAX_VOICE_FILE_SIZE = 3_000_000


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for every server of the session (the joined ONNX model is 92 MB)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    """The service as a user runs it, shared by the tests that do not restart it."""
    folder = tmp_path_factory.mktemp("server")
    model_config, api_config = write_configs(
        folder,
        storage=folder / "storage",
        cache=model_cache,
        storage_extra={"max_voice_file_size": TEST_MAX_VOICE_FILE_SIZE},
    )
    process = ServerProcess(model_config, api_config).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        yield http


@pytest.fixture
def fresh_server(tmp_path: Path, model_cache: Path) -> Iterator[ServerProcess]:
    """A server with its own empty storage, for tests that restart it; started by the test."""
    model_config, api_config = write_configs(tmp_path / "config", storage=tmp_path / "storage", cache=model_cache)
    process = ServerProcess(model_config, api_config)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def megatts3_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the shared MegaTTS3 fixtures are missing at {FIXTURES}")
    return FIXTURES
