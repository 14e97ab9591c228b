"""The megatts3-server command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from megatts3_server.config import Settings, load_settings
from megatts3_server.errors import ConfigError

app = typer.Typer(help="megatts3-server: the text-to-speech engine service.", no_args_is_help=True)

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


def _settings(api_config: Path | None, model_config: Path | None, overrides: dict) -> Settings:
    try:
        return load_settings(model_config, api_config, overrides=overrides)
    except ConfigError as exc:
        typer.echo(f"megatts3-server: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@app.command()
def serve(
    config: ApiConfig = None,
    model_config: ModelConfig = None,
    host: Annotated[str | None, typer.Option(help="Listen address (api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (api.port)")] = None,
) -> None:
    """Start the HTTP service (API on api.port)."""
    import uvicorn

    from megatts3_server.app import create_app
    from megatts3_server.logs import configure_logging

    api_overrides = {key: value for key, value in {"host": host, "port": port}.items() if value is not None}
    settings = _settings(config, model_config, {"api": api_overrides} if api_overrides else {})
    configure_logging(settings.logging)
    common = {
        "host": settings.api.host,
        "port": settings.api.port,
        "log_config": None,
        "timeout_graceful_shutdown": 10,
        # X-Forwarded-For from these proxies (nginx) becomes the client address used by rate limits.
        "proxy_headers": True,
        "forwarded_allow_ips": settings.api.forwarded_allow_ips,
    }
    if settings.api.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    # Several worker processes each build their own app (and engine) from the same files.
    for name, path in (("MEGATTS3_API_CONFIG", config), ("MEGATTS3_MODEL_CONFIG", model_config)):
        if path is not None:
            os.environ[name] = str(path.resolve())
    if api_overrides:
        os.environ.update({f"MEGATTS3_{key.upper()}": str(value) for key, value in api_overrides.items()})
    uvicorn.run("megatts3_server.app:app_from_environment", factory=True, workers=settings.api.workers, **common)


@app.command("check-config")
def check_config(config: ApiConfig = None, model_config: ModelConfig = None) -> None:
    """Validate the configuration and print the effective settings as JSON."""
    settings = _settings(config, model_config, {})
    typer.echo(settings.model_dump_json(indent=2))


def main() -> None:
    """Console-script entry point."""
    app(prog_name="megatts3-server")


if __name__ == "__main__":
    sys.exit(main())
