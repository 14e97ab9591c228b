"""``megatts3-server healthcheck``: the service's /health figures, and an exit status to act on."""

from __future__ import annotations

from typing import Annotated

import typer

from megatts3_server.cli_commands.common import ApiKey, JsonOutput, ServerUrl, open_client, print_fields, print_json
from megatts3_server.client import MegaTTS3Error


def healthcheck(
    url: ServerUrl = None,
    api_key: ApiKey = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the answer", min=0.1)] = 10.0,
    as_json: JsonOutput = False,
) -> None:
    """Print the service's /health figures; exit status 1 when it is down.

    Exit status 0: healthy (model loaded). 1: unreachable, an error answered, or not serving yet.
    2: degraded (speech is served, but the cache or the storage disk is in trouble: see problems).
    """
    try:
        # No retries: a health check reports what it sees now.
        with open_client(url, api_key, timeout, retries=0) as client:
            health = client.health_check()
    except MegaTTS3Error as exc:
        down = {"status": "down", "error": str(exc)}
        print_json(down) if as_json else print_fields(down)
        raise typer.Exit(code=1) from exc
    if as_json:
        print_json(health)
    else:
        print_fields(health)
    if health.get("status") == "degraded":
        raise typer.Exit(code=2)
    if health.get("status") != "healthy":
        raise typer.Exit(code=1)
