"""The repository's nginx files run for real on loopback: only the upstream addresses, the listen port
and the container's writable paths are swapped for a test's own."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]
_UPSTREAM_SERVER = re.compile(r"^(?P<indent>[ \t]*)server megatts3(?:-\d+)?:9000(?P<params>[^;]*);\n", re.M)


@dataclass(frozen=True)
class RunningNginx:
    base_url: str
    access_log: Path
    error_log: Path


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light; .ci/run does it)")
    return binary


def render(config: Path, folder: Path, upstream_ports: list[int], port: int) -> str:
    """The shipped file with its upstream servers replaced by ``upstream_ports`` on 127.0.0.1 (each with
    the parameters of the file's first server line) and its paths moved into ``folder``."""
    text = config.read_text()
    servers = list(_UPSTREAM_SERVER.finditer(text))
    if not servers:
        raise ValueError(f"{config} has no 'server megatts3...:9000' upstream line")
    first = servers[0]
    lines = "".join(f"{first['indent']}server 127.0.0.1:{p}{first['params']};\n" for p in upstream_ports)
    text = text[: first.start()] + lines + _UPSTREAM_SERVER.sub("", text[first.start() :])
    return (
        text.replace("listen 80;", f"listen 127.0.0.1:{port};")
        .replace("/tmp/", f"{folder}/")
        .replace("access_log /dev/stdout", f"access_log {folder}/access.log")
        .replace("error_log /dev/stderr", f"error_log {folder}/error.log")
    )


@contextmanager
def running_nginx(config: Path, folder: Path, upstream_ports: list[int]) -> Iterator[RunningNginx]:
    """nginx -t on the rendered file, then nginx in the foreground until the block ends; it is
    returned once it answers /health (or after 20 s, for tests that start it before the upstreams)."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    rendered = folder / "nginx.conf"
    rendered.write_text(render(config, folder, upstream_ports, port))
    check = subprocess.run([binary, "-t", "-c", str(rendered), "-p", str(folder)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused {config.name}:\n{check.stderr}")
    process = subprocess.Popen([binary, "-c", str(rendered), "-p", str(folder), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield RunningNginx(base, folder / "access.log", folder / "error.log")
    finally:
        process.terminate()
        process.wait(timeout=10)
