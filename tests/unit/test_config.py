"""Settings: both YAML files, environment overrides, sizes, and start-up errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from megatts3_server.config import Settings, load_settings, service_url
from megatts3_server.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
MODEL_CONFIG = REPO / "configs" / "model_config.yaml"
API_CONFIG = REPO / "configs" / "api_config.yaml"


def test_shipped_configs_load_with_every_key_of_the_guide() -> None:
    settings = load_settings(MODEL_CONFIG, API_CONFIG, env={})
    assert settings.model.name == "MegaTTS3-DIT"
    assert settings.model.version == "1.0.0"
    assert settings.model.inference.max_length == 1000
    assert settings.model.inference.batch_size == 1
    assert settings.model.vocoder.type == "WaveVAE"
    assert settings.model.cache.max_size == 2 * 10**9
    assert settings.model.cache.ttl == 3600
    assert settings.api.port == 9000
    assert settings.api.timeout == 300
    assert settings.api.rate_limit.requests_per_minute == 30
    assert settings.api.rate_limit.burst_size == 10
    assert settings.api.monitoring.metrics_port == 9090
    assert settings.logging.max_size == 100 * 10**6
    assert settings.logging.backup_count == 5
    assert settings.storage.max_voice_file_size == 50 * 10**6
    assert settings.storage.supported_formats == ["wav", "mp3", "flac", "m4a", "ogg"]


def test_metrics_stay_on_loopback_and_no_proxy_is_trusted_unless_configured() -> None:
    for settings in (load_settings(MODEL_CONFIG, API_CONFIG, env={}), Settings()):  # the files, the defaults
        assert settings.api.monitoring.metrics_host == "127.0.0.1"
        assert settings.api.forwarded_allow_ips == ""
    env = {
        "MEGATTS3_METRICS_HOST": "0.0.0.0",
        "MEGATTS3_FORWARDED_ALLOW_IPS": "10.0.0.7",
        "MEGATTS3_ADMIN_API_KEYS": "ops-1, ops-2",
    }
    settings = load_settings(MODEL_CONFIG, API_CONFIG, env=env)
    assert (settings.api.monitoring.metrics_host, settings.api.forwarded_allow_ips) == ("0.0.0.0", "10.0.0.7")
    assert [(key.key, key.admin) for key in settings.api.auth.all_keys()] == [("ops-1", True), ("ops-2", True)]


def test_production_cors_does_not_allow_every_origin() -> None:
    assert "*" not in load_settings(MODEL_CONFIG, API_CONFIG, env={}).api.cors.origins


def test_environment_overrides_files() -> None:
    env = {
        "MEGATTS3_HOST": "127.0.0.1",
        "MEGATTS3_PORT": "9100",
        "MEGATTS3_WORKERS": "3",
        "MEGATTS3_BATCH_SIZE": "4",
        "MEGATTS3_TIMEOUT": "45",
        "MEGATTS3_STORAGE_DIR": "/data/tts",
        "MEGATTS3_LOG_DIR": "/var/log/tts",
        "MEGATTS3_MODEL_DIR": "/models",
        "TORCH_THREADS": "2",
        "LOG_LEVEL": "debug",
    }
    settings = load_settings(MODEL_CONFIG, API_CONFIG, env=env)
    assert (settings.api.host, settings.api.port, settings.api.workers) == ("127.0.0.1", 9100, 3)
    assert settings.model.inference.batch_size == 4
    assert settings.api.timeout == 45
    assert settings.storage.voice_samples_dir == Path("/data/tts/voices")
    assert settings.storage.cache_dir == Path("/data/tts/cache")
    assert settings.logging.file == Path("/var/log/tts/megatts3.log")
    assert settings.model.checkpoint_path == Path("/models/dit_base/model.pt")
    assert settings.model.inference.threads == 2
    assert settings.logging.level == "DEBUG"


def test_prefixed_variable_wins_over_compose_alias() -> None:
    settings = load_settings(MODEL_CONFIG, API_CONFIG, env={"API_PORT": "9001", "MEGATTS3_PORT": "9002"})
    assert settings.api.port == 9002


def test_sizes_accept_units(tmp_path: Path) -> None:
    api = tmp_path / "api.yaml"
    api.write_text("storage:\n  max_voice_file_size: 5MiB\napi:\n  max_request_size: 1.5GB\n")
    settings = load_settings(MODEL_CONFIG, api, env={})
    assert settings.storage.max_voice_file_size == 5 * 2**20
    assert settings.api.max_request_size == 1_500_000_000


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("api:\n  port: not-a-port\n", "api.port"),
        ("api:\n  timeout: -1\n", "api.timeout"),
        ("storage:\n  max_voice_file_size: lots\n", "storage.max_voice_file_size"),
        ("api:\n  rate_limit:\n    burst_sise: 3\n", "api.rate_limit.burst_sise"),
        ("storage:\n  supported_formats: [wav, exe]\n", "storage.supported_formats"),
        ("storage:\n  backend: postgres\n", "storage.database_url"),
        ("storage:\n  backend: mysql\n", "storage.backend"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    api = tmp_path / "api.yaml"
    api.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_settings(MODEL_CONFIG, api, env={})
    assert key in str(error.value)


def test_the_voice_store_backend_is_chosen_by_the_environment() -> None:
    assert load_settings(MODEL_CONFIG, API_CONFIG, env={}).storage.backend == "sqlite"
    url = "postgresql://tts:secret@db:5432/voices"
    env = {"MEGATTS3_STORAGE_BACKEND": "postgres", "MEGATTS3_DATABASE_URL": url}
    storage = load_settings(MODEL_CONFIG, API_CONFIG, env=env).storage
    assert (storage.backend, storage.database_url) == ("postgres", url)
    with pytest.raises(ConfigError, match=r"storage\.database_url"):
        load_settings(MODEL_CONFIG, API_CONFIG, env={"MEGATTS3_STORAGE_BACKEND": "postgres"})


def test_invalid_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.inference\.batch_size"):
        load_settings(MODEL_CONFIG, API_CONFIG, env={"MEGATTS3_BATCH_SIZE": "zero"})


def test_unreadable_yaml_is_a_config_error(tmp_path: Path) -> None:
    api = tmp_path / "api.yaml"
    api.write_text("api: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(MODEL_CONFIG, api, env={})


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(MODEL_CONFIG, tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://localhost:9000"),
        ({"MEGATTS3_PORT": "9611"}, "http://localhost:9611"),
        ({"API_PORT": "9612"}, "http://localhost:9612"),
        ({"API_PORT": "9612", "MEGATTS3_PORT": "9611"}, "http://localhost:9611"),
        ({"MEGATTS3_HOST": "127.0.0.2", "MEGATTS3_PORT": "9611"}, "http://127.0.0.2:9611"),
        ({"MEGATTS3_HOST": "::1"}, "http://[::1]:9000"),
        ({"MEGATTS3_URL": "http://tts.internal:8080/", "MEGATTS3_PORT": "9611"}, "http://tts.internal:8080"),
    ],
)
def test_a_client_finds_the_service_where_its_settings_put_it(tmp_path: Path, env: dict[str, str], url: str) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    files = {"MEGATTS3_API_CONFIG": str(empty), "MEGATTS3_MODEL_CONFIG": str(empty)}
    assert service_url({**files, **env}) == url


def test_a_client_reads_the_port_from_the_services_config_file(tmp_path: Path) -> None:
    api = tmp_path / "api.yaml"
    api.write_text("api:\n  host: 127.0.0.1\n  port: 9700\n")
    assert service_url({"MEGATTS3_API_CONFIG": str(api), "MEGATTS3_MODEL_CONFIG": str(api)}) == "http://127.0.0.1:9700"
