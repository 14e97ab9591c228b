"""``megatts3-server narrate`` and the client's job methods against the real service and engine: a
screenplay of three speakers and twenty lines becomes one track (as long as its segments and pauses)
and SRT subtitles whose every cue, cut out of the track and transcribed by Whisper, is that cue's line."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import httpx
import pytest
import soundfile
import srt
from typer.testing import CliRunner

from megatts3_server.cli import app
from megatts3_server.client import JobFailedError, MegaTTS3Client
from tests.support.server import ServerProcess
from tests.support.speech import transcribe, wer_en

LINES = [  # a scene of three speakers, twenty short lines
    ("Narrator", "The night was quiet and cold."),
    ("Anna", "Are you still awake?"),
    ("Tom", "I was awake the whole night."),
    ("Narrator", "The wind moved the curtains."),
    ("Anna", "Then come and sit with me."),
    ("Tom", "Thank you, I will."),
    ("Narrator", "They sat by the window."),
    ("Anna", "Do you see the moon?"),
    ("Tom", "It is very bright tonight."),
    ("Narrator", "A dog barked far away."),
    ("Anna", "Tomorrow you leave for the city."),
    ("Tom", "Yes, on the first train."),
    ("Narrator", "Nobody spoke for a while."),
    ("Anna", "Will you write to me?"),
    ("Tom", "Every week, I promise."),
    ("Narrator", "The clock struck midnight."),
    ("Anna", "Then I will wait for your letters."),
    ("Tom", "And I will wait for your answers."),
    ("Narrator", "At last the rain began to fall."),
    ("Anna", "Good night, Tom."),
]
# English lines, so English voices (voice_001-005 are Mandarin where the full pack set is installed).
VOICES = {"Narrator": "bm_george", "Anna": "af_heart", "Tom": "am_michael"}


@pytest.mark.slow
def test_narrate_makes_a_screenplay_into_a_track_whose_cues_are_its_lines(
    server: ServerProcess, tmp_path: Path
) -> None:
    screenplay = tmp_path / "night.txt"
    screenplay.write_text("\n".join(f"{name}: {text}" for name, text in LINES), encoding="utf-8")
    voices = tmp_path / "voices.json"
    voices.write_text(json.dumps(VOICES))
    output, subtitles = tmp_path / "night.wav", tmp_path / "night.srt"
    files = ["-o", str(output), "--srt", str(subtitles), "--voices", str(voices)]
    command = ["narrate", str(screenplay), *files, "--url", server.base_url]
    result = CliRunner().invoke(app, command, env={"MEGATTS3_API_KEY": None})
    assert result.exit_code == 0, result.output
    assert f"{len(LINES)} segments" in result.output

    audio, rate = soundfile.read(output, dtype="float32")
    cues = list(srt.parse(subtitles.read_text(encoding="utf-8")))
    assert [cue.content for cue in cues] == [text for _, text in LINES]
    assert cues[-1].end.total_seconds() <= audio.size / rate + 0.01
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues)), "cues in order, never overlapping"
    # The track is its segments and the pauses between them: 500 ms where the speaker changes.
    listed = httpx.get(f"{server.base_url}/api/v1/tts/jobs", timeout=30).json()["jobs"]
    made = [job for job in listed if job["segments_total"] == len(LINES)][-1]
    job = httpx.get(f"{server.base_url}{made['status_url']}", timeout=30).json()
    segments = sum(segment["duration"] for segment in job["segments"])
    assert audio.size / rate == pytest.approx(segments + 0.5 * (len(LINES) - 1), abs=0.01)
    errors = []
    for cue in cues:
        clip = audio[int(cue.start.total_seconds() * rate) : int(cue.end.total_seconds() * rate)]
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, rate, format="WAV")
        heard = transcribe(buffer.getvalue(), "en")
        errors.append((wer_en(cue.content, heard), cue.content, heard))
    # A cue off its line hears a neighbour's words or silence (~1.0); one word misheard in a short line
    # by the engine's accent is 0.25-0.33 there.
    assert max(errors)[0] <= 0.5, max(errors)
    assert sum(error for error, _, _ in errors) / len(errors) <= 0.15, errors


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
