"""What can be checked of the container files without a Docker engine: the Dockerfile lint, the
compose file against the Compose specification, and that both say what the guide asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "megatts3" / "docker-compose.yml"


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is missing: pip install -e '.[test]'"
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([_tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/health" in text
    assert "ARG VARIANT=cpu" in text and "base-cuda" in text


def test_compose_file_is_valid_compose() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_service_is_the_guides() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["megatts3"]
    assert service["container_name"] == "ai-sound-megatts3"
    assert service["restart"] == "unless-stopped"
    assert service["ports"] == ["9000:9000"]
    environment = service["environment"]
    for key, value in {
        "CUDA_VISIBLE_DEVICES": "0",
        "API_HOST": "0.0.0.0",
        "API_PORT": "9000",
        "MODEL_CACHE_DIR": "/app/storage/cache",
        "VOICE_STORAGE_DIR": "/app/storage/voices",
        "LOG_LEVEL": "INFO",
        "WORKERS": "2",
    }.items():
        assert environment[key] == value, key
    volumes = service["volumes"]
    assert any(v.endswith(":/app/checkpoints:ro") for v in volumes)
    assert any(v.endswith(":/app/voice_profiles") for v in volumes)
    assert service["deploy"]["resources"]["limits"] == {"memory": "8g", "cpus": "4"}
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    check = service["healthcheck"]
    assert (check["interval"], check["timeout"], check["retries"], check["start_period"]) == ("30s", "15s", 3, "120s")
    assert compose["networks"]["ai-sound-network"]["external"] is True
    assert {"redis", "nginx"} <= set(compose["services"])
    assert compose["services"]["nginx"]["profiles"] == ["proxy"]


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [REPO / "scripts" / "healthcheck.sh", REPO / "scripts" / "install-test-deps.sh", REPO / ".ci" / "run"]
    result = subprocess.run([_tool("shellcheck"), *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_wheel_the_image_installs_carries_the_page_and_the_entry_point(tmp_path: Path) -> None:
    # The image installs the wheel built from this tree; build it the same way and look inside.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("megatts3_server-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "megatts3_server/web/static/index.html" in names
    assert "megatts3_server/web/static/app.js" in names
    assert "megatts3-server = megatts3_server.cli:main" in entry_points


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML plus Compose's merge tags: ``!override`` replaces the base file's value."""


_ComposeLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))


def _merged_ai_sound_service(tmp_path: Path) -> tuple[dict, Path]:
    """docker/megatts3/docker-compose.yml with the AI-Sound override applied as Compose merges files
    (mappings merged key by key, lists appended, ``!override`` values replacing)."""
    base = yaml.safe_load(COMPOSE.read_text())
    override = yaml.load((COMPOSE.parent / "docker-compose.ai-sound.yml").read_text(), Loader=_ComposeLoader)
    service = base["services"]["megatts3"]
    extra = override["services"]["megatts3"]
    service["environment"] = {**service["environment"], **extra["environment"]}
    service["ports"] = extra["ports"]
    service["healthcheck"] = extra["healthcheck"]
    service["networks"] = extra["networks"]
    merged = tmp_path / "merged-compose.yml"
    merged.write_text(yaml.safe_dump(base))
    return service, merged


def test_the_ai_sound_override_serves_where_the_platform_calls(tmp_path: Path) -> None:
    service, merged = _merged_ai_sound_service(tmp_path)
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(merged)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The platform's backend: MEGATTS3_URL=http://megatts3:7929, no API key, every user behind it.
    assert service["environment"]["API_PORT"] == "7929"
    assert service["environment"]["MEGATTS3_TRUSTED_NETWORKS"].startswith("${AI_SOUND_NETWORK_SUBNET")
    assert service["ports"] == ["127.0.0.1:7929:7929"]
    assert "localhost:7929/health" in " ".join(service["healthcheck"]["test"])
    assert service["networks"]["ai-sound-network"]["aliases"] == ["megatts3"]


SCALE = REPO / "docker" / "megatts3" / "docker-compose.scale.yml"
REPLICAS_NGINX = REPO / "docker" / "megatts3" / "nginx-replicas.conf"


def test_the_scale_out_compose_file_is_valid_compose() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(SCALE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_replicas_share_postgres_and_redis_behind_the_balancer() -> None:
    compose = yaml.safe_load(SCALE.read_text())
    replicas = sorted(name for name in compose["services"] if name.startswith("megatts3-"))
    assert len(replicas) == 3 and {"postgres", "redis", "nginx"} <= set(compose["services"])
    for name in replicas:
        env = compose["services"][name]["environment"]
        assert env["MEGATTS3_STORAGE_BACKEND"] == "postgres" and "@postgres:5432/" in env["MEGATTS3_DATABASE_URL"]
        assert env["MEGATTS3_CACHE_BACKEND"] == "redis" and env["MEGATTS3_RATE_LIMIT_STORAGE"].startswith("redis://")
        grace = int(compose["services"][name]["stop_grace_period"].removesuffix("s"))
        assert grace > 300, "SIGTERM must leave the requests in flight their api.timeout"
    assert len({compose["services"][name]["environment"]["CUDA_VISIBLE_DEVICES"] for name in replicas}) == 3
    mounts = compose["services"]["nginx"]["volumes"]
    assert any(mount.startswith("./nginx-replicas.conf:") for mount in mounts)
    conf = REPLICAS_NGINX.read_text()
    assert all(f"server {name}:9000" in conf for name in replicas)
    assert "least_conn;" in conf and "proxy_next_upstream error timeout http_502 http_503 non_idempotent" in conf
    voices = conf.split("location /api/v1/voices {")[1].split("}")[0]
    assert "proxy_next_upstream error timeout;" in voices, "a read of the voices is tried on a live replica"
    assert "non_idempotent" not in voices, "an upload is never sent twice"


def test_the_service_trusts_x_forwarded_for_from_nginx_alone_and_nginx_sets_it() -> None:
    """Both compose files give nginx a fixed address on a network of its own and name it alone in
    MEGATTS3_FORWARDED_ALLOW_IPS; both nginx files replace a client's X-Forwarded-For with its address
    (tests/deploy/test_nginx.py sends a forged one through them). The metrics listener, loopback by
    default, takes every interface inside the containers, where Prometheus scrapes it."""
    default = yaml.safe_load(COMPOSE.read_text())
    scale = yaml.safe_load(SCALE.read_text())
    for compose, services, network in (
        (default, ["megatts3"], "megatts3-proxy"),
        (scale, [name for name in scale["services"] if name.startswith("megatts3-")], "default"),
    ):
        nginx = compose["services"]["nginx"]
        assert list(nginx["networks"]) == [network]
        address = nginx["networks"][network]["ipv4_address"]
        assert address.startswith("${MEGATTS3_PROXY_ADDRESS:-")
        assert "subnet" in compose["networks"][network]["ipam"]["config"][0]
        for name in services:
            environment = compose["services"][name]["environment"]
            assert environment["MEGATTS3_FORWARDED_ALLOW_IPS"] == address, name
            assert environment["MEGATTS3_METRICS_HOST"] == "0.0.0.0", name
    for conf in (COMPOSE.parent / "nginx.conf", REPLICAS_NGINX):
        text = conf.read_text()
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in text, conf.name
        assert "$proxy_add_x_forwarded_for" not in text, conf.name
