"""``megatts3-server say``: speak a text into an audio file, through a running service or in this process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from megatts3_server.api.schemas import PITCH_RANGE, SPEED_RANGE
from megatts3_server.cli_commands.common import (
    ApiConfig,
    ApiKey,
    ModelConfig,
    Timeout,
    byte_progress,
    describe_saved,
    load_cli_settings,
    open_client,
    reported_errors,
    stderr_console,
)
from megatts3_server.client import AUDIO_FORMATS, DEFAULT_URL, SavedAudio, SpeechParams, audio_format_for
from megatts3_server.client_core import AudioFileWriter, ByteProgress
from megatts3_server.config import Settings

if TYPE_CHECKING:
    from megatts3_server.api.dependencies import Services


@contextmanager
def _local_services(settings: Settings) -> Iterator[Services]:
    """The service's parts, built and started here, with the engine loaded."""
    from megatts3_server.app import build_services

    services = build_services(settings)
    # Opening the store also clears what an interrupted write left, which only the server that writes
    # it may do; here the store is read as it is, and created empty only where there is none yet.
    if not settings.storage.voice_samples_dir.exists():
        services.voices.open()
    settings.storage.cache_dir.mkdir(parents=True, exist_ok=True)
    services.engine.load()
    services.scheduler.start()
    try:
        yield services
    finally:
        services.scheduler.stop()


async def _speak_locally(
    services: Services,
    text: str,
    voice_id: str,
    fmt_name: str,
    params: SpeechParams,
    output: Path,
    on_progress: ByteProgress,
) -> SavedAudio:
    from megatts3_server.audio import parse_format
    from megatts3_server.service.synthesis import SynthesisParameters

    try:
        context = await anyio.to_thread.run_sync(services.voices.context, voice_id)
        opened = await services.synthesis.open_stream(
            text, context, SynthesisParameters(**params), parse_format(fmt_name)
        )
        with AudioFileWriter(output, on_progress) as out:
            async for chunk in opened.chunks:
                out.write(chunk)
    finally:
        await services.cache.close()
    about = opened.description
    return SavedAudio(out.path, out.size, about.format.value, about.voice_id, about.voice_used, about.sample_rate)


def _say_in_process(
    settings: Settings, text: str, voice_id: str, fmt: str, params: SpeechParams, output: Path
) -> SavedAudio:
    with ExitStack() as stack:
        with stderr_console().status("loading the engine"):
            services = stack.enter_context(_local_services(settings))
        with byte_progress(f"speaking into {output.name}") as on_progress:
            return anyio.run(_speak_locally, services, text, voice_id, fmt, params, output, on_progress)


def say(
    text: Annotated[str, typer.Argument(help="The text to speak; '-' reads it from standard input")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The audio file to write", dir_okay=False)],
    voice: Annotated[
        str | None,
        typer.Option("--voice", "-v", help="Voice id, as 'voices list' shows it (default: the default voice)"),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help=f"Audio format: {', '.join(AUDIO_FORMATS)} (default: the output's suffix, else wav)"
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Speaking rate, 0.5-2 (1 = the voice as is)", min=SPEED_RANGE[0], max=SPEED_RANGE[1]),
    ] = None,
    pitch: Annotated[
        float | None, typer.Option(help="Pitch factor, 0.5-2; duration is kept", min=PITCH_RANGE[0], max=PITCH_RANGE[1])
    ] = None,
    emotion: Annotated[
        str | None, typer.Option(help="Emotion; one the engine cannot render is spoken neutrally, with a warning")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help=f"Base URL of the service (default {DEFAULT_URL})")] = None,
    api_key: ApiKey = None,
    timeout: Timeout = 300.0,
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process", help="Load the engine in this process instead of calling a service (takes a few seconds)"
        ),
    ] = False,
    config: ApiConfig = None,
    model_config: ModelConfig = None,
) -> None:
    """Speak TEXT into an audio file.

    The audio is written as it is synthesized, through a running service (--url) or in this process.

    --in-process loads the engine here, configured by --config and --model-config (a few seconds).
    """
    if in_process and url:
        raise typer.BadParameter("give either --url or --in-process", param_hint="--url")
    if not in_process and (config or model_config):
        raise typer.BadParameter("only used with --in-process", param_hint="--config/--model-config")
    if text == "-":
        text = sys.stdin.read()
    fmt = audio_format_for(output, format)
    params: SpeechParams = {
        key: value for key, value in {"speed": speed, "pitch": pitch, "emotion": emotion}.items() if value is not None
    }  # type: ignore[assignment]
    with reported_errors():
        if in_process:
            settings = load_cli_settings(config, model_config, {})
            saved = _say_in_process(settings, text, voice or settings.model.default_voice, fmt, params, output)
        else:
            with open_client(url, api_key, timeout) as client, byte_progress(f"speaking into {output.name}") as shown:
                saved = client.stream_to_file(text, output, voice, fmt, on_progress=shown, **params)
    typer.echo(describe_saved(saved))
