"""What a long-form job's downloads hold and are called: a cue per utterance (a quotation is not cut
at its sentences), and files named after the job's title."""

from __future__ import annotations

import email.message
import email.utils
from pathlib import Path

import pytest
import srt

from tests.support.standins import finished_job, tone_app, tone_settings

CHAPTER = '他推开门。“你还没睡？已经十二点半了。”她没有回答。\n"Are you awake? It\'s late." He sat down.'


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
        '"Are you awake? It\'s late."',
        "He sat down.",
    ]


def _saved_as(disposition: str) -> str:
    """The file name a browser saves under (RFC 6266 4.3: ``filename*`` when there is one), read with
    the standard library's RFC 2231 / 8187 decoder."""
    message = email.message.Message()
    message["Content-Disposition"] = disposition
    names = [value for key, value in message.get_params(header="content-disposition") if key == "filename"]
    extended = [value for value in names if isinstance(value, tuple)]
    return email.utils.collapse_rfc2231_value(extended[0] if extended else names[0])


@pytest.mark.parametrize(
    ("title", "saved", "ascii_line"),
    [
        (
            "第一章：夜",
            "第一章：夜",
            "attachment; filename=\"track.{}\"; filename*=UTF-8''%E7%AC%AC%E4%B8%80%E7%AB%A0%EF%BC%9A%E5%A4%9C.{}",
        ),
        ('../夜/"归途"\r\n', "夜_归途", None),
        ("Night shift", "Night shift", 'attachment; filename="Night shift.{}"'),
        ("", "track", 'attachment; filename="track.{}"'),
    ],
    ids=["chinese", "separators-quotes-controls", "ascii", "untitled"],
)
def test_results_download_under_the_jobs_title(tmp_path: Path, title: str, saved: str, ascii_line: str | None) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        created = http.post(
            "/api/v1/tts/jobs", json={"text": "你好。", "voice_id": "tone_low", "title": title, "format": "mp3"}
        )
        assert created.status_code == 202, created.text
        job = finished_job(http, created.json()["id"])
        downloads = {
            "mp3": http.get(job["audio_url"]),
            "srt": http.get(f"/api/v1/tts/jobs/{job['id']}/subtitles.srt"),
            "vtt": http.get(f"/api/v1/tts/jobs/{job['id']}/subtitles.vtt"),
        }
    for extension, response in downloads.items():
        assert response.status_code == 200, response.text
        disposition = response.headers["content-disposition"]
        assert disposition.isascii()
        assert _saved_as(disposition) == f"{saved}.{extension}"
        if ascii_line is not None:
            assert disposition == ascii_line.format(extension, extension)
