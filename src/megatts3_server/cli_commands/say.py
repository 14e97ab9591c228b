"""``megatts3-server say``: speak a text into an audio file, through a running service or in this process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer

from megatts3_server.api.schemas import PITCH_RANGE, SPEED_RANGE
from megatts3_server.cli_commands.common import (
    ApiConfig,
    ApiKey,
    ModelConfig,
    ServerUrl,
    Timeout,
    byte_progress,
    describe_saved,
    load_cli_settings,
    open_client,
    reported_errors,
    stderr_console,
)
from megatts3_server.client import (
    AUDIO_FORMATS,
    AudioFileWriter,
    SavedAudio,
    SpeechParams,
    audio_format_for,
)
from megatts3_server.config import Settings


async def _speak_locally(
    settings: Settings, text: str, voice_id: str | None, fmt_name: str, params: SpeechParams, output: Path
) -> SavedAudio:
    from megatts3_server.logs import quiet_libraries
    from megatts3_server.ratelimit import unlimited
    from megatts3_server.service.speech import SpeechRequest
    from megatts3_server.service.synthesis import SynthesisParameters
    from megatts3_server.service.wiring import build_services
    from megatts3_server.tenancy import Caller

    quiet_libraries()  # no log is configured here, but jieba prints its dictionary's build by itself
    services = build_services(settings)
    # A reader of the voice store: a server beside it may be writing, so nothing is "recovered" here.
    async with services.running(writer=False):
        with stderr_console().status("loading the engine"):
            await anyio.to_thread.run_sync(services.loader.wait)
        request = SpeechRequest(text, voice_id, SynthesisParameters(**params), fmt_name, stream=True)
        # The operator, beside the store: any tenant's voice speaks (ids are unique across tenants).
        opened = await services.speech.speak(request, unlimited(), Caller(admin=True))
        with byte_progress(f"speaking into {output.name}") as on_progress, AudioFileWriter(output, on_progress) as out:
            async for chunk in opened.chunks:  # type: ignore[union-attr]
                out.write(chunk)
    about = opened.description
    return SavedAudio(out.path, out.size, about.format.value, about.voice_id, about.voice_used, about.sample_rate)


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
    url: ServerUrl = None,
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
            saved = anyio.run(_speak_locally, settings, text, voice, fmt, params, output)
        else:
            with open_client(url, api_key, timeout) as client, byte_progress(f"speaking into {output.name}") as shown:
                saved = client.stream_to_file(text, output, voice, fmt, on_progress=shown, **params)
    typer.echo(describe_saved(saved))
