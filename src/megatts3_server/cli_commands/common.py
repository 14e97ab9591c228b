"""What the commands share: options, the client, error reporting and progress displays."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from megatts3_server.client import MegaTTS3Client, MegaTTS3Error, SavedAudio
from megatts3_server.config import URL_VARIABLE, Settings, load_settings, service_url
from megatts3_server.errors import ConfigError, ServiceError
from megatts3_server.voices.status import VoiceStatus

ApiConfig = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="API config file (default configs/api_config.yaml)", exists=True, dir_okay=False
    ),
]
ModelConfig = Annotated[
    Path | None,
    typer.Option("--model-config", help="Model config file (default configs/model_config.yaml)", exists=True),
]
ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=f"Base URL of the service (default: ${URL_VARIABLE}, else the api.host and api.port the service "
        "is configured with: MEGATTS3_PORT, API_PORT, configs/api_config.yaml; else http://localhost:9000)",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="MEGATTS3_API_KEY", help="API key, sent as 'Authorization: Bearer KEY'", show_envvar=True
    ),
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer of the service", min=1)]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the service's JSON instead of a summary")]


def load_cli_settings(api_config: Path | None, model_config: Path | None, overrides: dict) -> Settings:
    """The settings, or exit 2 with the message naming the bad key."""
    try:
        return load_settings(model_config, api_config, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"megatts3-server: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def server_url(url: str | None) -> str:
    """The service's base URL: ``--url``, else where the environment and the settings put it
    (config.service_url); exit 2 with the message when the settings are invalid."""
    if url:
        return url
    try:
        return service_url()
    except ConfigError as exc:
        typer.echo(f"megatts3-server: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def open_client(url: str | None, api_key: str | None, timeout: float, retries: int = 3) -> MegaTTS3Client:
    """A client of the service at ``url`` (None: see server_url)."""
    return MegaTTS3Client(server_url(url), api_key=api_key, timeout=timeout, retries=retries)


@contextmanager
def reported_errors() -> Iterator[None]:
    """A failure of the service (or of the in-process engine) as one line on stderr and exit status 1."""
    try:
        yield
    except ServiceError as exc:
        typer.echo(f"megatts3-server: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    except (MegaTTS3Error, OSError) as exc:  # OSError: the output or an upload could not be opened
        typer.echo(f"megatts3-server: {exc}", err=True)
        raise typer.Exit(code=1) from exc


def stderr_console() -> Console:
    """Progress goes to stderr, so that stdout stays the command's result."""
    return Console(stderr=True)


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int], None]]:
    """A live display of the bytes written so far (a stream's length is not known ahead)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda written: progress.update(task, completed=written)


@contextmanager
def voice_progress(voice_id: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A bar of a voice's enrollment, 0-100, fed with the voice as wait_for_voice polls it."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task(f"enrolling {voice_id}", total=100)

        def show(voice: dict[str, Any]) -> None:
            done = 100 if voice.get("status") == VoiceStatus.READY else float(voice.get("progress") or 0)
            progress.update(task, completed=done, description=f"{voice_id}: {voice.get('status', VoiceStatus.READY)}")

        yield show


def _flatten(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            yield f"{prefix}{key}", ", ".join(str(item) for item in value)
        else:
            yield f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value)


def print_fields(values: dict[str, Any]) -> None:
    """A JSON object as ``key: value`` lines, nested keys dotted (``memory_usage.free: 5.9GB``)."""
    for key, value in _flatten(values):
        typer.echo(f"{key}: {value}")


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def describe_saved(saved: SavedAudio) -> str:
    """One line about a written audio file."""
    voice = saved.voice_id or "the default voice"
    if saved.voice_used and saved.voice_used != saved.voice_id:
        voice += f", spoken as {saved.voice_used}"
    return f"wrote {saved.path} ({saved.size} bytes, {saved.format}, {voice})"
