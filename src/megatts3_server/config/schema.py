"""The settings' shape: every section and key of the two config files, typed and validated.

Where the values come from, and in which order, is sources.py; nothing here reads a file or the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Keys of the integration guide that are accepted (so its files load unchanged) but change nothing
# here, and why. model.name / type / version are not among them: /api/v1/info reports them (configured_model).
INFORMATIONAL_KEYS: dict[str, str] = {
    "model.checkpoint_path": "the guide's DiT file; the MegaTTS3 engine reads model.megatts3.checkpoint_dir",
    "model.config_path": "the guide's DiT config; read from model.megatts3.checkpoint_dir as well",
    "model.vocoder.type": "the vocoder is the engine's own (WaveVAE for MegaTTS3)",
    "api.monitoring.health_check_interval": "probes set their own interval (compose healthcheck, Kubernetes)",
    "storage.root": "each folder is its own key; MEGATTS3_STORAGE_DIR moves them all at once",
}


class _Section(BaseModel):
    # A typo in a config file must fail loudly, not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class InferenceSettings(_Section):
    device: str = "cuda:0"
    precision: Literal["fp32", "fp16", "bf16"] = "fp16"
    batch_size: int = Field(1, ge=1, le=256)
    max_length: int = Field(1000, ge=1, le=100_000, description="Longest accepted text, in characters")
    max_number_digits: int = Field(
        100, ge=16, le=10_000, description="Longest number (digits) a text may hold; longer: 422 number_too_long"
    )
    threads: int = Field(0, ge=0, description="CPU threads for inference; 0 = one per core")


class VocoderSettings(_Section):
    type: str = Field("WaveVAE", description="Informational (see INFORMATIONAL_KEYS)")
    checkpoint_path: Path = Field(Path("checkpoints/wavvae"), description="The MegaTTS3 engine's WaveVAE folder")


class RedisCacheSettings(_Section):
    url: str = "redis://localhost:6379/0"
    key_prefix: str = "megatts3:"
    compression: bool = True
    max_memory: ByteSize = ByteSize(10**9)
    socket_timeout: float = Field(0.5, gt=0, description="Seconds before a Redis call counts as failed")


class CacheSettings(_Section):
    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    max_size: ByteSize = ByteSize(2 * 10**9)
    ttl: int = Field(3600, ge=0, description="Seconds an entry lives; 0 = until evicted")
    redis: RedisCacheSettings = RedisCacheSettings()


class MegaTTS3Settings(_Section):
    """The MegaTTS3 engine (``model.engine: megatts3``): where its checkpoints are and its sampling defaults."""

    checkpoint_dir: Path = Field(
        Path("checkpoints"),
        description="Folder holding g2p/, aligner_lm/, duration_lm/, diffusion_transformer/ (wavvae: model.vocoder)",
    )
    time_step: int = Field(32, ge=1, le=256, description="Flow-matching steps of the diffusion transformer")
    p_w: float = Field(1.6, ge=0, le=10, description="Guidance weight for intelligibility (text)")
    t_w: float = Field(2.5, ge=0, le=10, description="Guidance weight for similarity to the reference speaker")
    dur_disturb: float = Field(0.1, ge=0, le=1, description="Random jitter of predicted phone durations")
    seed: int | None = Field(
        0, description="Base of the per-request sampling seed (same text + voice + settings = same audio); null: random"
    )


class CloningSettings(_Section):
    """Enrollment of uploaded references into voices (engines that search, like the embedded one)."""

    budget_seconds: float = Field(
        55, ge=0, le=3600, description="Search time per uploaded voice; 0 = no search (closest stock voice)"
    )
    one_shot_budget_seconds: float = Field(
        10, ge=0, le=3600, description="Search time for a synthesize_file reference (at most half of api.timeout)"
    )
    max_attempts: int = Field(
        2, ge=1, le=10, description="Enrollment runs a voice may start; one cut short by a crash counts"
    )
    lease_seconds: float = Field(
        30,
        ge=1,
        le=3600,
        description="How long a worker's claim on a running enrollment job lasts unless renewed (it is renewed "
        "every third of it): a replica that dies loses its jobs to the others this long after",
    )
    poll_seconds: float = Field(
        5, gt=0, le=600, description="How often an idle enrollment worker looks for jobs stored by other replicas"
    )


class ModelSettings(_Section):
    # /api/v1/info reports these as its configured_model; its model is what the engine actually runs.
    name: str = Field("MegaTTS3-DIT", description="The deployment's model name, reported by /api/v1/info")
    type: str = Field("diffusion_transformer", description="Reported by /api/v1/info")
    version: str = Field("1.0.0", description="The deployment's model version, reported by /api/v1/info")
    engine: Literal["kokoro", "megatts3"] = Field("kokoro", description="Which engine serves requests")
    default_voice: str | None = Field(
        None,
        description="The voice of a request that names none (a voice id or a blend recipe); "
        "unset: the engine's own default (the embedded engine's voice_001; MegaTTS3 has none)",
    )
    lexicon_file: Path | None = Field(
        None,
        description="A YAML or JSON mapping word -> reading loaded as the global lexicon "
        "(entries PUT through /api/v1/lexicon win over it)",
    )
    checkpoint_path: Path = Field(Path("checkpoints/dit_base/model.pt"), description="Informational")
    config_path: Path = Field(Path("checkpoints/dit_base/config.yaml"), description="Informational")
    inference: InferenceSettings = InferenceSettings()
    vocoder: VocoderSettings = VocoderSettings()
    cache: CacheSettings = CacheSettings()
    megatts3: MegaTTS3Settings = MegaTTS3Settings()
    cloning: CloningSettings = CloningSettings()


class CorsSettings(_Section):
    enabled: bool = True
    origins: list[str] = ["http://localhost:3000"]
    methods: list[str] = ["GET", "POST", "PUT", "DELETE"]
    headers: list[str] = ["*"]


class RateLimitSettings(_Section):
    enabled: bool = True
    requests_per_minute: int = Field(30, ge=1)
    burst_size: int = Field(10, ge=1)
    storage: str = Field("memory://", description='"memory://" or a "redis://host:port/db" URL shared by workers')


class ApiKeySettings(_Section):
    """A key with its own budget (``unlimited``, or its own rate; unset numbers: api.rate_limit's)."""

    key: str = Field(..., min_length=1)
    name: str = Field(
        "", description="Who holds the key: its tenant is key:<name> (keys sharing a name share their data)"
    )
    admin: bool = Field(False, description="Sees and manages every tenant's voices, jobs and lexicon entries")
    unlimited: bool = False
    requests_per_minute: int | None = Field(None, ge=1)
    burst_size: int | None = Field(None, ge=1)


class AuthSettings(_Section):
    """API keys. Any key configured here makes a key required (except from api.trusted_networks)."""

    api_keys: list[str] = Field(default_factory=list, description="Bearer keys with the default rate limit")
    unlimited_keys: list[str] = Field(default_factory=list, description="Bearer keys that are never rate limited")
    admin_keys: list[str] = Field(
        default_factory=list, description="Bearer keys that see and manage every tenant's data (default rate limit)"
    )
    keys: list[ApiKeySettings] = Field(default_factory=list, description="Keys with their own rate limits")

    def all_keys(self) -> list[ApiKeySettings]:
        """Every configured key with its budget (the lists of plain keys as entries of ``keys``)."""
        return (
            [ApiKeySettings(key=key) for key in self.api_keys]
            + [ApiKeySettings(key=key, unlimited=True) for key in self.unlimited_keys]
            + [ApiKeySettings(key=key, admin=True) for key in self.admin_keys]
            + list(self.keys)
        )


class SchedulerSettings(_Section):
    workers: int = Field(0, ge=0, le=64, description="Synthesis worker threads; 0 = sized to the machine")
    max_queue: int = Field(32, ge=1, description="Requests admitted (running + waiting) before 503")


class MonitoringSettings(_Section):
    enabled: bool = True
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the metrics listener binds: loopback unless a scraper must reach it from elsewhere "
        "(0.0.0.0 in a container scraped over its network)",
    )
    metrics_port: int = Field(9090, ge=0, le=65535)
    health_check_interval: int = Field(30, ge=1, description="Informational (see INFORMATIONAL_KEYS)")


class JobsSettings(_Section):
    """Long-form jobs (POST /api/v1/tts/jobs): whole chapters and scripts made into one track."""

    enabled: bool = True
    max_characters: int = Field(200_000, ge=1, description="Longest job text (all segments together)")
    max_segments: int = Field(5_000, ge=1, description="Most segments (script lines, paragraphs) in one job")
    result_ttl_hours: float = Field(72, gt=0, description="Finished, failed or cancelled jobs are deleted after this")
    loudness_lufs: float = Field(-18, ge=-40, le=-5, description="Every segment's integrated loudness (EBU R128)")
    true_peak_dbtp: float = Field(-1, ge=-10, le=0, description="Highest (4x oversampled) peak after normalization")
    paragraph_pause_ms: int = Field(700, ge=0, le=10_000, description="Between paragraphs of a text job")
    speaker_pause_ms: int = Field(500, ge=0, le=10_000, description="Between lines of different speakers")
    line_pause_ms: int = Field(300, ge=0, le=10_000, description="Between lines of one speaker")
    lease_seconds: float = Field(
        30,
        ge=1,
        le=3600,
        description="How long a replica's claim on the job it makes lasts unless renewed (every third of it): a "
        "replica that dies loses its job to the others this long after (storage on PostgreSQL)",
    )
    poll_seconds: float = Field(
        5, gt=0, le=600, description="How often an idle replica looks for jobs other replicas took in (PostgreSQL)"
    )
    max_speech_seconds: float = Field(
        86_400, gt=0, description="Most speech one job may make (estimated at intake, readings and numbers included)"
    )
    max_screenplay_lines: int = Field(10_000, ge=1, description="Most lines (blank ones included) a screenplay has")
    max_line_chars: int = Field(2_000, ge=1, description="Longest screenplay line, in characters")


class LexiconSettings(_Section):
    """Bounds on the lexicon's work: a request's own entries, and the global lexicon's stored entries."""

    max_request_entries: int = Field(1000, ge=0, le=100_000, description="Most entries a request's own lexicon holds")
    max_request_chars: int = Field(
        50_000, ge=0, le=10_000_000, description="Most characters (words and readings) in a request's own lexicon"
    )
    max_stored_entries: int = Field(
        200_000, ge=1, le=10_000_000, description="Most entries stored through /api/v1/lexicon (a PUT beyond: 413)"
    )


class ApiSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(9000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    timeout: float = Field(300, gt=0)
    check_speech_time: bool = Field(
        True,
        description="Refuse up front (413 speech_too_long, 503 too_busy) a whole response whose speech cannot be "
        "synthesized within api.timeout at the engine speed measured on this machine",
    )
    max_speech_seconds: float = Field(
        600,
        gt=0,
        description="Most speech one request (whole or streamed) or one job segment may make, estimated after its "
        "readings and numbers are expanded; more: 413 speech_too_long",
    )
    shutdown_grace_seconds: float = Field(
        10,
        ge=0,
        le=3600,
        description="On a stop (SIGTERM, Ctrl-C): how long requests in flight may take to finish before they are "
        "cancelled (and logged)",
    )
    max_request_size: ByteSize = ByteSize(60 * 10**6)
    max_json_size: ByteSize = Field(
        ByteSize(4 * 10**6),
        description="Largest request body that is not a multipart upload (JSON is parsed whole before its "
        "fields are checked); a job of 200,000 characters with its lexicon fits",
    )
    jobs: JobsSettings = JobsSettings()
    lexicon: LexiconSettings = LexiconSettings()
    forwarded_allow_ips: str = Field(
        "",
        description="Proxies (comma-separated addresses or CIDRs) whose X-Forwarded-For names the client; "
        "empty: none, the peer's own address counts",
    )
    trusted_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Callers from these networks need no API key and are never rate limited (a trusted backend); "
        "matched against the peer's address, or the one a proxy of forwarded_allow_ips names",
    )
    enrollment: bool = Field(
        True,
        description="Run enrollment jobs in this server; false: uploads are stored pending for a "
        "`megatts3-server worker` (or another replica) to enroll",
    )
    scheduler: SchedulerSettings = SchedulerSettings()
    auth: AuthSettings = AuthSettings()
    cors: CorsSettings = CorsSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    monitoring: MonitoringSettings = MonitoringSettings()


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: str = "%(asctime)s [%(levelname)s] %(message)s"
    file: Path | None = Path("logs/megatts3.log")
    max_size: ByteSize = ByteSize(100 * 10**6)
    backup_count: int = Field(5, ge=0)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


AudioContainer = Literal["wav", "mp3", "flac", "m4a", "ogg"]


class StorageSettings(_Section):
    root: Path = Field(Path("storage"), description="Informational (see INFORMATIONAL_KEYS)")
    voice_samples_dir: Path = Path("storage/voices")
    cache_dir: Path = Path("storage/cache")
    voice_packs_dir: Path | None = Field(
        None,
        description="Where `megatts3-server voices fetch-packs` installs the embedded engine's full voice pack set "
        "and the engine looks for it (default: <cache_dir>/kokoro/voices)",
    )
    temp_dir: Path = Path("storage/tmp")
    jobs_dir: Path = Field(
        Path("storage/jobs"),
        description="Long-form jobs: their records and segments (on PostgreSQL with the voices when the backend is "
        "postgres) and their tracks",
    )
    max_voice_file_size: ByteSize = ByteSize(50 * 10**6)
    max_voice_seconds: float = Field(300, gt=0, description="Longest reference recording accepted")
    supported_formats: list[AudioContainer] = ["wav", "mp3", "flac", "m4a", "ogg"]
    disk_warn_percent: float = Field(
        80, gt=0, le=100, description="/health is 'degraded' when the storage disk is fuller than this"
    )
    backend: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Where uploaded voices are kept: sqlite (metadata in SQLite, files in voice_samples_dir; one "
        "server) or postgres (metadata and files in storage.database_url, shared by every replica)",
    )
    database_url: str | None = Field(
        None, description="PostgreSQL URL for backend postgres: postgresql://user:password@host:5432/database"
    )

    @model_validator(mode="after")
    def _postgres_needs_a_url(self) -> StorageSettings:
        if self.backend == "postgres" and not self.database_url:
            raise ValueError("storage.database_url is required when storage.backend is postgres")
        return self


class Settings(BaseSettings):
    """Everything the service can be configured with (both YAML files merged)."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    model: ModelSettings = ModelSettings()
    api: ApiSettings = ApiSettings()
    logging: LoggingSettings = LoggingSettings()
    storage: StorageSettings = StorageSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the explicit (already merged files + env) init data: load_settings() builds it, so the
        # precedence and the names of the environment variables live in one visible table below.
        return (init_settings,)
