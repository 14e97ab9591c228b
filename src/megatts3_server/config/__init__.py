"""The one typed settings object of the service: its shape (schema.py) and where its values come
from, in which order (sources.py)."""

from megatts3_server.config.schema import (
    INFORMATIONAL_KEYS,
    ApiKeySettings,
    ApiSettings,
    AuthSettings,
    CacheSettings,
    CloningSettings,
    CorsSettings,
    InferenceSettings,
    LoggingSettings,
    MegaTTS3Settings,
    ModelSettings,
    MonitoringSettings,
    RateLimitSettings,
    RedisCacheSettings,
    SchedulerSettings,
    Settings,
    StorageSettings,
    VocoderSettings,
)
from megatts3_server.config.sources import ENV_ALIASES, ENV_OVERRIDES, load_settings

__all__ = [
    "ENV_ALIASES",
    "ENV_OVERRIDES",
    "INFORMATIONAL_KEYS",
    "ApiKeySettings",
    "ApiSettings",
    "AuthSettings",
    "CacheSettings",
    "CloningSettings",
    "CorsSettings",
    "InferenceSettings",
    "LoggingSettings",
    "MegaTTS3Settings",
    "ModelSettings",
    "MonitoringSettings",
    "RateLimitSettings",
    "RedisCacheSettings",
    "SchedulerSettings",
    "Settings",
    "StorageSettings",
    "VocoderSettings",
    "load_settings",
]
