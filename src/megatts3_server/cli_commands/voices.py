"""``megatts3-server voices``: list, upload, show and delete the voices of a running service; migrate
a SQLite voice store into PostgreSQL; install the embedded engine's full voice pack set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from megatts3_server.cli_commands.common import (
    ApiConfig,
    ApiKey,
    JsonOutput,
    ModelConfig,
    ServerUrl,
    Timeout,
    load_cli_settings,
    open_client,
    print_fields,
    print_json,
    reported_errors,
    server_url,
    voice_progress,
)
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.storage.schema_sqlite import CATALOGUE_FILE
from megatts3_server.voices import PostgresVoiceStore, StoredVoice, VoiceStore
from megatts3_server.voices.status import VoiceStatus
from megatts3_server.voices.transfer import Outcome, copy_voices

app = typer.Typer(
    help="List, upload, show and delete the voices of a running service; migrate a voice store to PostgreSQL; "
    "install the embedded engine's voice packs.",
    no_args_is_help=True,
)

VoiceId = Annotated[str, typer.Argument(help="The voice's id")]


@app.command("list")
def list_voices(
    url: ServerUrl = None, api_key: ApiKey = None, timeout: Timeout = 60.0, as_json: JsonOutput = False
) -> None:
    """List every voice, built-in and uploaded."""
    with reported_errors(), open_client(url, api_key, timeout) as client:
        voices = client.list_voices()
    if as_json:
        print_json(voices)
        return
    table = Table("id", "name", "type", "status", "language", "description")
    table.columns[0].no_wrap = True
    for voice in voices:
        cells = (voice.get(key) or "" for key in ("id", "name", "type", "status", "language", "description"))
        table.add_row(*(str(cell) for cell in cells))
    Console().print(table)


@app.command("upload")
def upload(
    voice_id: Annotated[str, typer.Argument(help="Id for the new voice: letters, digits, '_' or '-'")],
    voice_file: Annotated[
        Path, typer.Argument(help="Reference recording (wav, mp3, flac, m4a or ogg)", exists=True, dir_okay=False)
    ],
    description: Annotated[str, typer.Option("--description", "-d", help="What the voice is for")] = "",
    name: Annotated[str | None, typer.Option(help="Display name (default: the id)")] = None,
    latent: Annotated[
        Path | None,
        typer.Option(help="The reference's WaveVAE latent (.npy), if you have it", exists=True, dir_okay=False),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait (with a progress bar) until the voice is ready")
    ] = True,
    wait_timeout: Annotated[float, typer.Option(help="Seconds to wait for the voice to be ready", min=1)] = 600.0,
    url: ServerUrl = None,
    api_key: ApiKey = None,
    timeout: Timeout = 300.0,
    as_json: JsonOutput = False,
) -> None:
    """Upload a reference recording as a new voice."""
    with reported_errors(), open_client(url, api_key, timeout) as client:
        voice = client.upload_voice_sample(voice_id, voice_file, description, name=name, latent_file=latent)
        if wait and voice.get("status", VoiceStatus.READY) != VoiceStatus.READY:
            with voice_progress(voice_id) as show:
                voice = client.wait_for_voice(voice_id, timeout=wait_timeout, on_progress=show)
    if as_json:
        print_json(voice)
        return
    typer.echo(f"stored voice {voice['id']} ({voice.get('status', VoiceStatus.READY)})")
    if voice.get("summary"):
        typer.echo(voice["summary"])


@app.command("show")
def show(
    voice_id: VoiceId,
    url: ServerUrl = None,
    api_key: ApiKey = None,
    timeout: Timeout = 60.0,
    as_json: JsonOutput = False,
) -> None:
    """Show one voice's details."""
    with reported_errors(), open_client(url, api_key, timeout) as client:
        voice = client.get_voice(voice_id)
    if as_json:
        print_json(voice)
    else:
        print_fields(voice)


@app.command("delete")
def delete(
    voice_id: VoiceId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    url: ServerUrl = None,
    api_key: ApiKey = None,
    timeout: Timeout = 60.0,
) -> None:
    """Delete an uploaded voice and its files (built-in voices cannot be deleted)."""
    if not yes:
        typer.confirm(f"Delete voice {voice_id!r} from {server_url(url)}?", abort=True)
    with reported_errors(), open_client(url, api_key, timeout) as client:
        client.delete_voice(voice_id)
    typer.echo(f"deleted voice {voice_id}")


@app.command("migrate")
def migrate(
    to: Annotated[
        str | None,
        typer.Option("--to", help="PostgreSQL URL to copy into, postgresql://... (default: storage.database_url)"),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="The SQLite voice store folder to copy (default: storage.voice_samples_dir)", file_okay=False
        ),
    ] = None,
    config: ApiConfig = None,
    model_config: ModelConfig = None,
) -> None:
    """Copy every voice of a SQLite voice store (record, job state, files) into PostgreSQL.

    Safe to run again: a voice already there with the same content is skipped; one with the same id
    and other content is reported and left alone (exit status 1)."""
    settings = load_cli_settings(config, model_config, {})
    folder = source or settings.storage.voice_samples_dir
    url = to or settings.storage.database_url
    if not url:
        typer.echo("megatts3-server: name the database: --to postgresql://... (or storage.database_url)", err=True)
        raise typer.Exit(code=2)
    if not (folder / CATALOGUE_FILE).is_file():
        typer.echo(f"megatts3-server: no voice store in {folder} ({CATALOGUE_FILE} is missing)", err=True)
        raise typer.Exit(code=2)

    def show(outcome: Outcome, voice: StoredVoice) -> None:
        if outcome == "copied":
            typer.echo(f"copied {voice.id} ({voice.status})")
        elif outcome == "skipped":
            typer.echo(f"skipped {voice.id}: already there with the same content")
        else:
            typer.echo(f"conflict {voice.id}: the database holds another voice with this id; left alone", err=True)

    database = PostgresDatabase(url)
    sqlite, postgres = VoiceStore(folder), PostgresVoiceStore(database)
    try:
        with reported_errors():
            sqlite.migrate()
            postgres.migrate()
            report = copy_voices(sqlite, postgres, on_voice=show)
    finally:
        sqlite.close()
        database.close()
    counts = {outcome: len(ids) for outcome, ids in report.outcomes.items()}
    typer.echo(f"{counts['copied']} copied, {counts['skipped']} skipped, {counts['conflict']} conflicting")
    if not report.complete:
        raise typer.Exit(code=1)


@app.command("fetch-packs")
def fetch_packs(
    folder: Annotated[
        Path | None,
        typer.Option(help="Install here (default: storage.voice_packs_dir, else <storage.cache_dir>/kokoro/voices)"),
    ] = None,
    config: ApiConfig = None,
    model_config: ModelConfig = None,
) -> None:
    """Install the embedded engine's 54 voice packs (npm package kokoro-js, its sha512 checked).

    Needs npm; nothing to do when a verified install is there. Without it the engine speaks with the
    five packs that come from PyPI (exit status 1, with a warning)."""
    from megatts3_server.engines.kokoro.packs import PACKAGE, VoicePackError, install_packs, packs_folder

    settings = load_cli_settings(config, model_config, {})
    target = folder or packs_folder(settings.storage.cache_dir, settings.storage.voice_packs_dir)
    try:
        outcome = install_packs(target)
    except VoicePackError as exc:
        typer.echo(
            f"megatts3-server: warning: the voice packs were not installed: {exc}. "
            "The embedded engine speaks with the five packs from PyPI until they are.",
            err=True,
        )
        raise typer.Exit(code=1) from exc
    if outcome.fetched:
        typer.echo(f"installed {outcome.packs} voice packs of {PACKAGE} (sha512 verified) in {outcome.folder}")
    else:
        typer.echo(f"the {outcome.packs} voice packs of {PACKAGE} are installed in {outcome.folder}: nothing to do")
