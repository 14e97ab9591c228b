"""Run the real service in a subprocess on a loopback port, as a user would start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_configs(
    folder: Path,
    *,
    storage: Path,
    cache: Path,
    api: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    storage_extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write a model and an API config for a test server; returns (model_config, api_config)."""
    folder.mkdir(parents=True, exist_ok=True)
    # No cloning search unless a test asks for one: uploads are then prepared within the request (201).
    no_search = {"budget_seconds": 0, "one_shot_budget_seconds": 0}
    model_cfg = {
        "model": {
            "engine": "kokoro",
            "inference": {"device": "cpu", "max_length": 1000},
            "cloning": no_search,
            **(model or {}),
        }
    }
    api_cfg = {
        "api": {
            "host": "127.0.0.1",
            "port": free_port(),
            "timeout": 120,
            # Tests send many requests quickly; the rate limit tests turn it back on.
            "rate_limit": {"enabled": False},
            "monitoring": {"metrics_port": free_port()},
            **(api or {}),
        },
        "logging": {"level": "INFO", "file": str(folder / "logs" / "megatts3.log")},
        "storage": {
            "root": str(storage),
            "voice_samples_dir": str(storage / "voices"),
            "cache_dir": str(cache),
            "temp_dir": str(storage / "tmp"),
            "jobs_dir": str(storage / "jobs"),
            # A test box's own disk may be fuller than the 80 % that degrades /health; the disk-full
            # tests fill their own tmpfs to the last byte.
            "disk_warn_percent": 99,
            **(storage_extra or {}),
        },
    }
    model_path, api_path = folder / "model_config.yaml", folder / "api_config.yaml"
    model_path.write_text(yaml.safe_dump(model_cfg))
    api_path.write_text(yaml.safe_dump(api_cfg))
    return model_path, api_path


@dataclass
class ServerProcess:
    """One service process; start() waits until /health says the model is loaded. ``env``: variables
    set for it (they override the config files, as they do for a user)."""

    model_config: Path
    api_config: Path
    process: subprocess.Popen | None = None
    env: dict[str, str] | None = None
    console_folder: Path | None = None
    wrapper: list[str] | None = None
    """A command the server is started under (it must exec it, so the pid stays the server's)."""

    @property
    def port(self) -> int:
        if self.env and self.env.get("API_PORT"):
            return int(self.env["API_PORT"])
        return yaml.safe_load(self.api_config.read_text())["api"]["port"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        port = yaml.safe_load(self.api_config.read_text())["api"]["monitoring"]["metrics_port"]
        return f"http://127.0.0.1:{port}/metrics"

    @property
    def log_file(self) -> Path:
        return Path(yaml.safe_load(self.api_config.read_text())["logging"]["file"])

    def start(self, timeout: float = 180.0, *, until_loaded: bool = True) -> ServerProcess:
        """Start the process; return once /health says the model is loaded (``until_loaded``), or
        once /health answers at all."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self.process = subprocess.Popen(
            [
                *(self.wrapper or []),
                sys.executable,
                "-m",
                "megatts3_server",
                "serve",
                "--config",
                str(self.api_config),
                "--model-config",
                str(self.model_config),
            ],
            env=env,
            # A file, not a pipe: nobody reads a pipe while the server runs, and a full one would block it.
            stdout=self._console_path.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.console()}")
            try:
                health = httpx.get(f"{self.base_url}/health", timeout=2).json()
                if health.get("model_loaded") or not until_loaded:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise TimeoutError("server did not become ready")

    def stop(self) -> str:
        """Stop gracefully (SIGTERM) and return what the process printed."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        return self.console()

    @property
    def _console_path(self) -> Path:
        return (self.console_folder or self.api_config.parent) / "console.log"

    def console(self) -> str:
        """What the process printed so far."""
        return self._console_path.read_text() if self._console_path.exists() else ""


REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_default_server(folder: Path, cache: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    """The service with the repository's own configs/*.yaml (what ``make serve`` runs), changed only by
    ``env`` and by what a test box needs: its storage, logs and model cache under ``folder``/``cache``,
    and a free metrics port (tests run side by side)."""
    folder.mkdir(parents=True, exist_ok=True)
    placement = {
        "MEGATTS3_STORAGE_DIR": str(folder / "storage"),
        "MODEL_CACHE_DIR": str(cache),
        "MEGATTS3_LOG_DIR": str(folder / "logs"),
        "MEGATTS3_METRICS_PORT": str(free_port()),
    }
    server = ServerProcess(
        REPO_ROOT / "configs" / "model_config.yaml",
        REPO_ROOT / "configs" / "api_config.yaml",
        env={**placement, **env},
        console_folder=folder,
    ).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_server(folder: Path, cache: Path, **settings: Any) -> Iterator[ServerProcess]:
    """A started service with its configs and storage under ``folder`` (``settings``: write_configs'
    api / model / storage_extra); stopped when the block ends, however it ends."""
    model_config, api_config = write_configs(folder, storage=folder / "storage", cache=cache, **settings)
    server = ServerProcess(model_config, api_config).start()
    try:
        yield server
    finally:
        server.stop()


def labelled_metric(server: ServerProcess, name: str, label: str) -> dict[str, float]:
    """The server's samples of metric ``name`` (e.g. ``megatts3_job_segments_total``) by the value
    of its one ``label``."""
    values: dict[str, float] = {}
    for line in httpx.get(server.metrics_url, timeout=10).text.splitlines():
        if line.startswith(name + "{"):
            values[line.split(f'{label}="')[1].split('"')[0]] = float(line.split()[-1])
    return values


def job_segment_counts(server: ServerProcess) -> dict[str, float]:
    """The server's ``megatts3_job_segments_total`` by outcome (synthesized, reused, failed)."""
    counts = {"synthesized": 0.0, "reused": 0.0, "failed": 0.0}
    return counts | labelled_metric(server, "megatts3_job_segments_total", "outcome")
