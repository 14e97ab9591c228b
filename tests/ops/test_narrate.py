"""``megatts3-server narrate`` and the client's job methods against the real service and engine: a
screenplay of two speakers becomes one track and SRT subtitles whose every cue, cut out of the track
and transcribed by Whisper, is that cue's line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import soundfile
import srt
from typer.testing import CliRunner

from megatts3_server.cli import app
from megatts3_server.client import JobFailedError, MegaTTS3Client
from tests.support.server import ServerProcess
from tests.support.speech import transcribe, wer_en

LINES = [
    ("Narrator", "The night was quiet and cold."),
    ("Anna", "Are you still awake?"),
    ("Narrator", "Nobody answered her question."),
    ("Anna", "Then I will wait until morning."),
]


@pytest.mark.slow
def test_narrate_makes_a_screenplay_into_a_track_whose_cues_are_its_lines(
    server: ServerProcess, tmp_path: Path
) -> None:
    screenplay = tmp_path / "night.txt"
    screenplay.write_text("\n".join(f"{name}: {text}" for name, text in LINES), encoding="utf-8")
    voices = tmp_path / "voices.json"
    voices.write_text(json.dumps({"Narrator": "voice_005", "Anna": "voice_002"}))
    output, subtitles = tmp_path / "night.wav", tmp_path / "night.srt"
    files = ["-o", str(output), "--srt", str(subtitles), "--voices", str(voices)]
    command = ["narrate", str(screenplay), *files, "--url", server.base_url]
    result = CliRunner().invoke(app, command, env={"MEGATTS3_API_KEY": None})
    assert result.exit_code == 0, result.output
    assert "4 segments" in result.output

    audio, rate = soundfile.read(output, dtype="float32")
    cues = list(srt.parse(subtitles.read_text(encoding="utf-8")))
    assert [cue.content for cue in cues] == [text for _, text in LINES]
    assert cues[-1].end.total_seconds() <= audio.size / rate + 0.01
    for cue in cues:
        clip = audio[int(cue.start.total_seconds() * rate) : int(cue.end.total_seconds() * rate)]
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, rate, format="WAV")
        heard = transcribe(buffer.getvalue(), "en")
        assert wer_en(cue.content, heard) <= 0.25, (cue.content, heard)


def test_the_client_waits_for_a_job_and_reports_a_cancelled_one(server: ServerProcess, tmp_path: Path) -> None:
    with MegaTTS3Client(server.base_url) as client:
        seen: list[float] = []
        job = client.create_job(text="Hello there.\nGoodbye.", voice_id="voice_005", format="mp3")
        done = client.wait_for_job(
            job["id"], timeout=300, poll_interval=0.2, on_progress=lambda j: seen.append(j["progress"])
        )
        assert done["status"] == "done" and seen[-1] == 100.0 and seen == sorted(seen)
        path = client.download_job(job["id"], tmp_path / "hello.mp3")
        assert soundfile.info(path).duration == pytest.approx(done["audio_seconds"], abs=0.15)
        long = client.create_job(text="\n".join(f"Line number {n}." for n in range(40)), voice_id="voice_005")
        assert client.delete_job(long["id"]) == {"id": long["id"], "cancelled": True}
        with pytest.raises(JobFailedError) as ended:
            client.wait_for_job(long["id"], timeout=60, poll_interval=0.2)
        assert ended.value.code == "job_cancelled"
