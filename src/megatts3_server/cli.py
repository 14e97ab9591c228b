"""The megatts3-server command line."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from megatts3_server.cli_commands import voices
from megatts3_server.cli_commands.common import ApiConfig, ModelConfig, load_cli_settings
from megatts3_server.cli_commands.health import healthcheck
from megatts3_server.cli_commands.narrate import narrate
from megatts3_server.cli_commands.say import say
from megatts3_server.cli_commands.worker import worker

app = typer.Typer(help="megatts3-server: the text-to-speech engine service.", no_args_is_help=True)


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
    from megatts3_server.draining import DrainingServer
    from megatts3_server.errors import EngineNotReadyError
    from megatts3_server.logs import configure_logging

    api_overrides = {key: value for key, value in {"host": host, "port": port}.items() if value is not None}
    settings = load_cli_settings(config, model_config, {"api": api_overrides} if api_overrides else {})
    configure_logging(settings.logging)
    common = {
        "host": settings.api.host,
        "port": settings.api.port,
        "log_config": None,
        # SIGTERM: no new connections, /ready 503 (draining), requests in flight get the grace period, then
        # are cancelled (api/cancellation.py answers and logs them).
        "timeout_graceful_shutdown": settings.api.shutdown_grace_seconds,
        # The app itself trusts X-Forwarded-For from api.forwarded_allow_ips only (app.py); uvicorn's
        # own default would trust it from any local process.
        "proxy_headers": False,
    }
    try:
        # Builds the engine, which checks that its weights are where the settings say (not yet loading them).
        application = create_app(settings)
    except EngineNotReadyError as exc:
        typer.echo(f"megatts3-server: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    if settings.api.workers == 1:
        DrainingServer(uvicorn.Config(application, **common), application).run()
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
    settings = load_cli_settings(config, model_config, {})
    typer.echo(settings.model_dump_json(indent=2))


app.command()(say)
app.command()(narrate)
app.add_typer(voices.app, name="voices")
app.command()(healthcheck)
app.command()(worker)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="megatts3-server")


if __name__ == "__main__":
    sys.exit(main())
