"""Where the settings come from, highest priority first: explicit overrides passed by code, the
``MEGATTS3_*`` (and the integration guide's deploy-time) environment variables, then
``configs/api_config.yaml`` and ``configs/model_config.yaml``, then the schema's defaults. Nothing
else in the service reads environment variables or YAML.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from megatts3_server.config.schema import Settings
from megatts3_server.errors import ConfigError

DEFAULT_MODEL_CONFIG = Path("configs/model_config.yaml")
DEFAULT_API_CONFIG = Path("configs/api_config.yaml")

# Environment variable -> dotted settings key. The integration guide names MEGATTS3_*; its compose file uses the
# un-prefixed names, accepted as lower-priority aliases so that file works unchanged.
ENV_OVERRIDES: dict[str, str] = {
    "MEGATTS3_HOST": "api.host",
    "MEGATTS3_PORT": "api.port",
    "MEGATTS3_WORKERS": "api.workers",
    "MEGATTS3_TIMEOUT": "api.timeout",
    "MEGATTS3_BATCH_SIZE": "model.inference.batch_size",
    "MEGATTS3_MAX_LENGTH": "model.inference.max_length",
    "MEGATTS3_DEVICE": "model.inference.device",
    "MEGATTS3_ENGINE": "model.engine",
    "MEGATTS3_LOG_LEVEL": "logging.level",
    "TORCH_THREADS": "model.inference.threads",
    "MEGATTS3_API_KEYS": "api.auth.api_keys",
    "MEGATTS3_UNLIMITED_API_KEYS": "api.auth.unlimited_keys",
    "MEGATTS3_ADMIN_API_KEYS": "api.auth.admin_keys",
    "MEGATTS3_TRUSTED_NETWORKS": "api.trusted_networks",
    "MEGATTS3_REDIS_URL": "model.cache.redis.url",
    "MEGATTS3_CACHE_BACKEND": "model.cache.backend",
    "MEGATTS3_RATE_LIMIT_STORAGE": "api.rate_limit.storage",
    "MEGATTS3_MAX_QUEUE": "api.scheduler.max_queue",
    "MEGATTS3_METRICS_HOST": "api.monitoring.metrics_host",
    "MEGATTS3_METRICS_PORT": "api.monitoring.metrics_port",
    "MEGATTS3_FORWARDED_ALLOW_IPS": "api.forwarded_allow_ips",
    "MEGATTS3_STORAGE_BACKEND": "storage.backend",
    "MEGATTS3_DATABASE_URL": "storage.database_url",
    "MEGATTS3_ENROLLMENT": "api.enrollment",
    "MEGATTS3_VOICE_PACKS_DIR": "storage.voice_packs_dir",
}
# Where a client (the CLI's client commands) finds the service, when not told with --url.
URL_VARIABLE = "MEGATTS3_URL"
# Variables holding a list, written comma-separated.
_LIST_VARIABLES = frozenset(
    {"MEGATTS3_API_KEYS", "MEGATTS3_UNLIMITED_API_KEYS", "MEGATTS3_ADMIN_API_KEYS", "MEGATTS3_TRUSTED_NETWORKS"}
)
ENV_ALIASES: dict[str, str] = {
    "API_HOST": "api.host",
    "API_PORT": "api.port",
    "WORKERS": "api.workers",
    "LOG_LEVEL": "logging.level",
    "VOICE_STORAGE_DIR": "storage.voice_samples_dir",
    "MODEL_CACHE_DIR": "storage.cache_dir",
    "OMP_NUM_THREADS": "model.inference.threads",
}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def _apply_directory_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """MEGATTS3_MODEL_DIR / _STORAGE_DIR / _LOG_DIR move a whole tree of paths at once."""
    if model_dir := env.get("MEGATTS3_MODEL_DIR"):
        root = Path(model_dir)
        _set_dotted(data, "model.checkpoint_path", str(root / "dit_base" / "model.pt"))
        _set_dotted(data, "model.config_path", str(root / "dit_base" / "config.yaml"))
        _set_dotted(data, "model.vocoder.checkpoint_path", str(root / "wavvae"))
        _set_dotted(data, "model.megatts3.checkpoint_dir", str(root))
    if storage_dir := env.get("MEGATTS3_STORAGE_DIR"):
        root = Path(storage_dir)
        _set_dotted(data, "storage.root", str(root))
        _set_dotted(data, "storage.voice_samples_dir", str(root / "voices"))
        _set_dotted(data, "storage.cache_dir", str(root / "cache"))
        _set_dotted(data, "storage.temp_dir", str(root / "tmp"))
        _set_dotted(data, "storage.jobs_dir", str(root / "jobs"))
    if log_dir := env.get("MEGATTS3_LOG_DIR"):
        _set_dotted(data, "logging.file", str(Path(log_dir) / "megatts3.log"))


def _describe(error: ValidationError, sources: str) -> str:
    lines = [f"invalid configuration ({sources}):"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def load_settings(
    model_config: Path | None = None,
    api_config: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from the two YAML files, the environment and explicit overrides.

    Files default to MEGATTS3_MODEL_CONFIG / MEGATTS3_API_CONFIG, then configs/*.yaml. A missing
    default file is not an error (the defaults apply); a file named explicitly must exist.
    Raises ConfigError naming each invalid key.
    """
    env = os.environ if env is None else env
    model_config = model_config or (Path(env["MEGATTS3_MODEL_CONFIG"]) if env.get("MEGATTS3_MODEL_CONFIG") else None)
    api_config = api_config or (Path(env["MEGATTS3_API_CONFIG"]) if env.get("MEGATTS3_API_CONFIG") else None)
    data: dict[str, Any] = {}
    used: list[str] = []
    for path, default in ((model_config, DEFAULT_MODEL_CONFIG), (api_config, DEFAULT_API_CONFIG)):
        chosen = path or default
        if path is None and not chosen.exists():
            continue
        data = _merge(data, _read_yaml(chosen))
        used.append(str(chosen))
    _apply_directory_env(data, env)
    for table in (ENV_ALIASES, ENV_OVERRIDES):
        for name, dotted in table.items():
            if name in env and env[name] != "":
                value: Any = env[name]
                if name in _LIST_VARIABLES:
                    value = [item.strip() for item in value.split(",") if item.strip()]
                _set_dotted(data, dotted, value)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, ", ".join(used) + " + environment" if used else "environment")) from exc


def service_url(env: Mapping[str, str] | None = None) -> str:
    """Where a client finds the service: ``MEGATTS3_URL``, else the address the service itself is
    configured to listen on (api.host / api.port from the same files and variables, MEGATTS3_PORT or
    API_PORT say), reached through localhost when it listens on every address. With nothing set,
    ``http://localhost:9000``. Raises ConfigError when the settings are invalid."""
    env = os.environ if env is None else env
    if env.get(URL_VARIABLE):
        return env[URL_VARIABLE].rstrip("/")
    api = load_settings(env=env).api
    host = api.host
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{api.port}"
