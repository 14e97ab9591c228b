"""What a long-form job's downloads hold and are called: a cue per utterance (a quotation is not cut
at its sentences), and files named after the job's title."""

from __future__ import annotations

from pathlib import Path

import srt

from tests.support.standins import finished_job, tone_app, tone_settings

CHAPTER = "他推开门。“你还没睡？已经十二点半了。”她没有回答。\n\"Are you awake? It's late.\" He sat down."


def test_a_quoted_utterance_is_one_subtitle_cue(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        created = http.post("/api/v1/tts/jobs", json={"text": CHAPTER, "voice_id": "tone_low"})
        assert created.status_code == 202, created.text
        job = finished_job(http, created.json()["id"])
        assert job["status"] == "done", job
        cues = list(srt.parse(http.get(f"/api/v1/tts/jobs/{job['id']}/subtitles.srt").text))
    assert [cue.content for cue in cues] == [
        "他推开门。",
        "“你还没睡？已经十二点半了。”",
        "她没有回答。",
        "\"Are you awake? It's late.\"",
        "He sat down.",
    ]
