"""Long-form jobs through the real app over the tone engine: a screenplay of three speakers becomes
one track whose timestamps and subtitles match its audio (each speaker's tone sits inside that
speaker's cues, silence between segments), at one loudness; changed lines are the only ones made
again; a restart resumes; cancel stops; bad jobs are refused up front."""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import soundfile
import srt
import webvtt
from fastapi.testclient import TestClient

from megatts3_server.config import Settings
from tests.support.reference_clips import real_speech_wav
from tests.support.standins import RATE, GatedEngine, finished_job, tone_app, tone_settings
from tests.support.waiting import wait_until

PITCH = {"旁白": 180.0, "林清雅": 320.0, "老周": 250.0}  # tone_low, tone_high, an uploaded voice (250 Hz)
VOICES = {"旁白": "tone_low", "林清雅": "tone_high", "老周": "laozhou"}
SCREENPLAY = "\n".join(
    [
        "旁白：夜深了，街上只剩下几盏路灯。",
        "林清雅：“你还没睡？”",
        "老周: 睡不着。明天就要走了。",
        "旁白：风从窗缝里钻进来，吹得灯火一晃一晃。",
        "林清雅：“那我陪你坐一会儿。”",
        "老周：好。",
        "旁白：两个人都没有再说话。",
        "林清雅：“记得给我写信。”",
        "老周：一定写，每个月一封。",
        "旁白：天快亮的时候，雨停了。",
    ]
    * 2
)


def _settings(folder: Path, **jobs: Any) -> Settings:
    return tone_settings(folder, api={"jobs": jobs} if jobs else None)


def _upload_laozhou(http: TestClient) -> None:
    upload = http.post("/api/v1/voices/upload", data={"voice_id": "laozhou"}, files={"voice_file": real_speech_wav()})
    assert upload.status_code == 201, upload.text


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum))])


def test_a_screenplay_becomes_one_track_whose_times_and_subtitles_match_its_audio(tmp_path: Path) -> None:
    with tone_app(_settings(tmp_path)) as (http, _):
        _upload_laozhou(http)
        created = http.post("/api/v1/tts/jobs", json={"screenplay": SCREENPLAY, "voices": VOICES, "title": "夜"})
        assert created.status_code == 202, created.text
        job = finished_job(http, created.json()["id"])
        assert job["status"] == "done" and job["errors"] == [], job
        assert (job["segments_done"], job["segments_total"], job["progress"]) == (20, 20, 100.0)

        audio, rate = soundfile.read(io.BytesIO(http.get(job["audio_url"]).content), dtype="float32")
        assert rate == RATE
        stamps = http.get(f"/api/v1/tts/jobs/{job['id']}/timestamps").json()
        segments = stamps["segments"]
        # The track is the segments and the pauses between them, nothing else.
        assert stamps["duration"] == pytest.approx(audio.size / RATE, abs=0.002)
        lines = [line.split("：" if "：" in line else ":", 1) for line in SCREENPLAY.splitlines()]
        assert [segment["speaker"] for segment in segments] == [name.strip() for name, _ in lines]
        pauses = {True: 0.5, False: 0.3}  # speaker change / same speaker (the defaults)
        for before, after in itertools.pairwise(segments):
            assert after["start"] == pytest.approx(
                before["end"] + pauses[before["speaker"] != after["speaker"]], abs=0.002
            )
            gap = audio[round(before["end"] * RATE) + 8 : round(after["start"] * RATE) - 8]
            assert np.max(np.abs(gap), initial=0.0) < 1e-3, "silence between segments"
        loudness = pyloudnorm.Meter(RATE)
        for segment in segments:
            assert 0 <= segment["start"] < segment["end"] <= stamps["duration"] + 1e-3
            inside = audio[round(segment["start"] * RATE) : round(segment["end"] * RATE)]
            # Listening-free alignment: the audio inside a segment's times is that speaker's tone.
            assert _dominant_hz(inside) == pytest.approx(PITCH[segment["speaker"]], abs=5)
            looped = np.tile(inside, int(np.ceil(0.5 * RATE / inside.size)) + 1).astype(np.float64)
            assert loudness.integrated_loudness(looped) == pytest.approx(-18, abs=1.0)
            previous = segment["start"]
            for sentence in segment["sentences"]:
                assert previous - 1e-3 <= sentence["start"] < sentence["end"] <= segment["end"] + 1e-3
                previous = sentence["end"]

        cues = list(srt.parse(http.get(f"/api/v1/tts/jobs/{job['id']}/subtitles.srt").text))
        sentences = [sentence for segment in segments for sentence in segment["sentences"]]
        assert [cue.content for cue in cues] == [sentence["text"].strip() for sentence in sentences]
        assert "".join(cue.content for cue in cues) == "".join(text.strip() for _, text in lines)
        for cue in cues:
            inside = audio[round(cue.start.total_seconds() * RATE) : round(cue.end.total_seconds() * RATE)]
            assert np.sqrt(np.mean(inside**2)) > 0.01, f"cue {cue.index} is speech, not silence"
        vtt = webvtt.from_buffer(io.StringIO(http.get(f"/api/v1/tts/jobs/{job['id']}/subtitles.vtt").text))
        assert [caption.voice for caption in vtt] == [
            segment["speaker"] for segment in segments for _ in segment["sentences"]
        ]

        ranged = http.get(job["audio_url"], headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and len(ranged.content) == 100


def test_a_chapter_sent_again_with_one_line_changed_makes_only_that_line(tmp_path: Path) -> None:
    chapter = "\n".join(f"第{n}段。天色渐渐暗了下来。" for n in range(1, 9))
    with tone_app(_settings(tmp_path)) as (http, _):
        jobs = http.app.state.services.jobs  # type: ignore[attr-defined]
        first = http.post("/api/v1/tts/jobs", json={"text": chapter, "voice_id": "tone_low", "format": "mp3"})
        assert finished_job(http, first.json()["id"])["status"] == "done"
        assert (jobs.segments_synthesized, jobs.segments_reused) == (8, 0)
        changed = chapter.replace("第5段。", "第五段，改过了。")
        second = http.post("/api/v1/tts/jobs", json={"text": changed, "voice_id": "tone_low", "format": "mp3"})
        done = finished_job(http, second.json()["id"])
        assert done["status"] == "done"
        assert (jobs.segments_synthesized, jobs.segments_reused) == (9, 7)
        track = http.get(done["audio_url"])
        assert track.headers["content-type"] == "audio/mpeg"
        decoded, _ = soundfile.read(io.BytesIO(track.content))
        assert decoded.size / RATE == pytest.approx(done["audio_seconds"], abs=0.2)
        listed = http.get("/api/v1/tts/jobs").json()["jobs"]
        assert [job["id"] for job in listed] == [first.json()["id"], second.json()["id"]]
        assert http.delete(f"/api/v1/tts/jobs/{first.json()['id']}").json() == {
            "id": first.json()["id"],
            "deleted": True,
        }
        assert http.get(f"/api/v1/tts/jobs/{first.json()['id']}").status_code == 404


def test_a_restart_resumes_a_job_from_its_first_unfinished_segment(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    script = [{"voice_id": "tone_high", "text": f"第{n}句。"} for n in range(6)]
    held = GatedEngine(open_calls=1 + 3)  # the speed calibration, then three segments; the fourth waits
    try:
        with tone_app(settings, held) as (http, _):
            job_id = http.post("/api/v1/tts/jobs", json={"script": script}).json()["id"]
            wait_until(lambda: held.calls >= 1 + 4)  # the fourth segment is in the engine, held
            # The runner speaks one segment ahead: the third is stored while the fourth is spoken, so
            # its row may finish just after the engine call starts.
            job = wait_until(lambda: _done_at_least(http, job_id, 3))
            assert (job["status"], job["segments_done"]) == ("running", 3)
    finally:  # the server stopped in the middle of the job
        held.gate.set()
    with tone_app(settings) as (http, _):
        jobs = http.app.state.services.jobs  # type: ignore[attr-defined]
        job = finished_job(http, job_id)
        assert (job["status"], job["segments_done"]) == ("done", 6)
        assert (jobs.segments_synthesized, jobs.segments_reused) == (3, 0), "only the unfinished segments are made"
        stamps = http.get(f"/api/v1/tts/jobs/{job_id}/timestamps").json()
        assert [segment["index"] for segment in stamps["segments"]] == list(range(6))


def _done_at_least(http: TestClient, job_id: str, segments: int) -> dict[str, Any] | None:
    job = http.get(f"/api/v1/tts/jobs/{job_id}").json()
    return job if job["segments_done"] >= segments else None


def test_cancel_stops_a_running_job_and_its_results_are_never_served(tmp_path: Path) -> None:
    held = GatedEngine(open_calls=1 + 1)
    with tone_app(_settings(tmp_path), held) as (http, _):
        job_id = http.post("/api/v1/tts/jobs", json={"text": "一。\n二。\n三。\n四。", "voice_id": "tone_low"}).json()[
            "id"
        ]
        deadline = time.monotonic() + 60
        while held.calls < 3:  # the second segment is in the engine, held
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert http.delete(f"/api/v1/tts/jobs/{job_id}").json() == {"id": job_id, "cancelled": True}
        held.gate.set()
        job = finished_job(http, job_id)
        assert job["status"] == "cancelled" and job["segments_done"] <= 2
        refused = http.get(f"/api/v1/tts/jobs/{job_id}/audio")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_not_finished"
        time.sleep(0.3)
        assert held.calls <= 4, "no more engine calls once cancelled"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"screenplay": "旁白：你好。\n甲：嗯。\n乙：哦。", "voices": {"旁白": "tone_low"}}, 422, "cannot_cast"),
        ({"screenplay": "旁白：你好。", "voices": {"旁白": {"gender": "robot"}}}, 422, "invalid_request"),
        ({"screenplay": "旁白：你好。", "voices": {"旁白": {"gender": "male", "age": 3}}}, 422, "invalid_request"),
        ({"screenplay": "旁白：你好。\n没有冒号的一行", "voices": {"旁白": "tone_low"}}, 422, "invalid_screenplay"),
        ({"script": [{"voice_id": "nobody", "text": "你好。"}]}, 422, "invalid_voices"),
        ({"script": [{"voice_id": "tone_low", "text": "  "}]}, 422, "empty_text"),
        ({"text": "你好。", "script": [{"voice_id": "tone_low", "text": "你好。"}]}, 422, "invalid_job"),
        ({}, 422, "invalid_job"),
        ({"text": "你好。", "format": "midi"}, 422, "unsupported_format"),
        ({"text": "\n".join(["好。"] * 11)}, 413, "too_many_segments"),
        ({"text": "好" * 101}, 413, "text_too_long"),
        ({"text": "สวัสดีครับ"}, 422, "unsupported_language"),
        ({"script": [{"voice_id": "tone_low", "text": "好。", "pause_ms": -1}]}, 422, "invalid_request"),
    ],
)
def test_a_bad_job_is_refused_up_front_with_the_reason(tmp_path: Path, body: dict, status: int, code: str) -> None:
    with tone_app(_settings(tmp_path, max_segments=10, max_characters=100)) as (http, _):
        answer = http.post("/api/v1/tts/jobs", json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
        assert http.get("/api/v1/tts/jobs").json() == {"jobs": []}


def test_unknown_jobs_are_404_and_jobs_turned_off_are_503(tmp_path: Path) -> None:
    with tone_app(_settings(tmp_path / "on")) as (http, _):
        assert http.get("/api/v1/tts/jobs/nope").json()["error"]["code"] == "job_not_found"
        assert http.delete("/api/v1/tts/jobs/nope").status_code == 404
    with tone_app(_settings(tmp_path / "off", enabled=False)) as (http, _):
        answer = http.post("/api/v1/tts/jobs", json={"text": "你好。"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (503, "jobs_unavailable")


def test_the_event_stream_sends_each_change_once_and_reads_no_segments_while_nothing_changes(tmp_path: Path) -> None:
    held = GatedEngine(open_calls=1 + 1)  # the speed measurement and the first segment; the second waits
    with tone_app(_settings(tmp_path), held) as (http, _):
        jobs = http.app.state.services.jobs
        reads = {"get": 0, "segments": 0}
        for name in reads:
            original = getattr(jobs._store, name)

            def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
                reads[_name] += 1
                return _original(*args)

            setattr(jobs._store, name, counted)
        job_id = http.post("/api/v1/tts/jobs", json={"text": "一。\n二。\n三。\n四。", "voice_id": "tone_low"}).json()[
            "id"
        ]
        while_held: dict[str, int] = {}
        first_segment_sent = threading.Event()  # the stream has sent the state the held engine keeps

        def release_after_idle_polls() -> None:
            deadline = time.monotonic() + 60
            assert first_segment_sent.wait(60)
            start = dict(reads)
            while reads["get"] < start["get"] + 4:  # the stream has looked at the job four times
                assert time.monotonic() < deadline
                time.sleep(0.02)
            while_held.update({name: reads[name] - start[name] for name in reads})
            held.gate.set()

        releaser = threading.Thread(target=release_after_idle_polls)
        releaser.start()
        events: list[tuple[str, dict[str, Any]]] = []
        with http.stream("GET", f"/api/v1/tts/jobs/{job_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
                    if events[-1][1]["segments_done"] == 1:
                        first_segment_sent.set()
        releaser.join()

        # While the engine was held nothing changed: the stream read the job's row, never its segments.
        assert while_held["get"] >= 4 and while_held["segments"] == 0, while_held
        kinds = [kind for kind, _ in events]
        assert kinds[-2:] == ["progress", "done"] and set(kinds[:-1]) == {"progress"}, kinds
        progress = [(body["status"], body["segments_done"]) for kind, body in events if kind == "progress"]
        assert len(progress) == len(set(progress)), "each state is sent once"
        assert [done for _, done in progress] == sorted(done for _, done in progress)
        assert progress[-1] == ("done", 4) and events[-1][1]["progress"] == 100.0
        assert "segments" not in events[-1][1]
