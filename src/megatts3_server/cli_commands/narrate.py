"""``megatts3-server narrate``: a chapter, a script or a screenplay made into one audio file (and subtitles)
by a running service's long-form jobs, with a progress bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from megatts3_server.cli_commands.common import ApiKey, ServerUrl, open_client, reported_errors, stderr_console
from megatts3_server.client import audio_format_for

# "name：text" (or "name: text") on most non-empty lines makes a text file a screenplay.
_SCREENPLAY_SHARE = 0.8


def _looks_like_screenplay(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    named = [line for line in lines if any(mark in line[:41] for mark in ("：", ":"))]
    return bool(lines) and len(named) >= _SCREENPLAY_SHARE * len(lines)


def job_body(source: Path, voices: dict[str, Any] | None, voice: str | None) -> dict[str, Any]:
    """The job a file asks for: a .json script (a list of lines, or {"script": [...]}), a screenplay
    (``name：text`` lines, with ``voices``), or else a chapter in one voice."""
    text = source.read_text(encoding="utf-8")
    if source.suffix.lower() == ".json":
        loaded = json.loads(text)
        return {"script": loaded["script"] if isinstance(loaded, dict) else loaded}
    if voices is not None and _looks_like_screenplay(text):
        return {"screenplay": text, "voices": voices}
    body: dict[str, Any] = {"text": text}
    if voice:
        body["voice_id"] = voice
    return body


def narrate(
    source: Annotated[Path, typer.Argument(help="chapter.txt, script.json or screenplay.txt", exists=True)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The audio file to write", dir_okay=False)],
    srt: Annotated[Path | None, typer.Option("--srt", help="Also write SRT subtitles here", dir_okay=False)] = None,
    voices: Annotated[
        Path | None,
        typer.Option(
            "--voices",
            help='JSON map of screenplay speaker names to voice ids or hints ({"gender": "male"}); '
            "a name left out is cast by the service",
            exists=True,
        ),
    ] = None,
    voice: Annotated[str | None, typer.Option("--voice", "-v", help="A chapter's voice (default: the default)")] = None,
    title: Annotated[str, typer.Option(help="The job's title")] = "",
    url: ServerUrl = None,
    api_key: ApiKey = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the whole job", min=1)] = 6 * 3600,
) -> None:
    """Make SOURCE into one audio file through the service's long-form jobs.

    A .json file is a script ([{"voice_id", "text", "pause_ms"?, "parameters"?}, ...]); a text file whose
    lines are "name：text" is a screenplay when --voices maps the names; any other text is a chapter.
    """
    mapping = json.loads(voices.read_text(encoding="utf-8")) if voices else None
    body = {**job_body(source, mapping, voice), "format": audio_format_for(output), "title": title or source.stem}
    with reported_errors(), open_client(url, api_key, timeout=60) as client:
        job = client.create_job(**body)
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
        with Progress(*columns, console=stderr_console(), transient=True) as progress:
            bar = progress.add_task(f"{source.name}: {job['segments_total']} segments", total=100)

            def shown(state: dict[str, Any]) -> None:
                progress.update(bar, completed=state["progress"])

            done = client.wait_for_job(job["id"], timeout=timeout, on_progress=shown)
        client.download_job(job["id"], output, srt=srt)
    failed = f", {done['segments_failed']} segments failed" if done["segments_failed"] else ""
    typer.echo(f"{output}: {done['audio_seconds']:.1f} s, {done['segments_done']} segments{failed}")
