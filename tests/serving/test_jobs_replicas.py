"""Long-form jobs on two replicas sharing PostgreSQL (in process, over the tone engine): a job sent to
one is followed, served and deleted through the other (which builds the track it did not make from the
stored segments); a cancel through one stops the job the other makes; a job whose replica stopped in
the middle is finished by the other without making its finished segments again."""

from __future__ import annotations

from pathlib import Path

from megatts3_server.config import Settings
from tests.support.standins import GatedEngine, finished_job, tone_app, tone_settings
from tests.support.waiting import wait_until

SCRIPT = [{"voice_id": "tone_high" if n % 2 else "tone_low", "text": f"第{n}句，天色渐暗。"} for n in range(6)]


def _replica(folder: Path, database_url: str, *, poll_seconds: float = 0.2) -> Settings:
    settings = tone_settings(folder, api={"jobs": {"lease_seconds": 1.5, "poll_seconds": poll_seconds}})
    storage = settings.storage.model_copy(update={"backend": "postgres", "database_url": database_url})
    return settings.model_copy(update={"storage": storage})


def test_a_job_sent_to_one_replica_is_followed_served_and_deleted_through_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        tone_app(_replica(tmp_path / "one", postgres_url)) as (one, _),
        tone_app(_replica(tmp_path / "two", postgres_url)) as (two, _),
    ):
        created = one.post("/api/v1/tts/jobs", json={"script": SCRIPT, "title": "共享"})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        job = finished_job(two, job_id)
        assert (job["status"], job["segments_done"], job["title"]) == ("done", 6, "共享")
        made_here = [(tmp_path / name / "jobs" / job_id / "track.wav").exists() for name in ("one", "two")]
        assert sorted(made_here) == [False, True], "one replica made the track"

        tracks = [replica.get(f"/api/v1/tts/jobs/{job_id}/audio") for replica in (one, two)]
        assert [track.status_code for track in tracks] == [200, 200]
        assert tracks[0].content == tracks[1].content, "the track built from the stored segments is the same"
        ranged = two.get(f"/api/v1/tts/jobs/{job_id}/audio", headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206 and ranged.content == tracks[0].content[:100]
        stamps = [replica.get(f"/api/v1/tts/jobs/{job_id}/timestamps").json() for replica in (one, two)]
        assert stamps[0] == stamps[1]
        assert (
            one.get(f"/api/v1/tts/jobs/{job_id}/subtitles.srt").text
            == two.get(f"/api/v1/tts/jobs/{job_id}/subtitles.srt").text
        )
        assert [listed["id"] for listed in two.get("/api/v1/tts/jobs").json()["jobs"]] == [job_id]

        assert two.delete(f"/api/v1/tts/jobs/{job_id}").json() == {"id": job_id, "deleted": True}
        assert one.get(f"/api/v1/tts/jobs/{job_id}").status_code == 404
        assert one.get(f"/api/v1/tts/jobs/{job_id}/audio").status_code == 404


def test_a_cancel_through_one_replica_stops_the_job_the_other_makes(tmp_path: Path, postgres_url: str) -> None:
    held = GatedEngine(open_calls=1 + 1)  # the speed calibration and one segment; the second waits
    # The second replica looks for work only when woken by its own submissions: the first makes the job.
    with (
        tone_app(_replica(tmp_path / "one", postgres_url), held) as (one, _),
        tone_app(_replica(tmp_path / "two", postgres_url, poll_seconds=600)) as (two, engine_two),
    ):
        maker = one.app.state.services.jobs  # type: ignore[attr-defined]
        job_id = one.post("/api/v1/tts/jobs", json={"script": SCRIPT}).json()["id"]
        wait_until(lambda: held.calls >= 3)  # the second segment is in the engine, held
        assert two.delete(f"/api/v1/tts/jobs/{job_id}").json() == {"id": job_id, "cancelled": True}
        wait_until(lambda: maker._current is None)  # its lease renewal said no: the maker stopped
        calls = held.calls
        held.gate.set()
        job = finished_job(one, job_id)
        assert job["status"] == "cancelled" and job["segments_done"] <= 1
        assert finished_job(two, job_id)["status"] == "cancelled"
        assert held.calls == calls and engine_two.syntheses == 0, "nobody makes a cancelled job"


def test_a_job_whose_replica_stopped_midway_is_finished_by_the_other(tmp_path: Path, postgres_url: str) -> None:
    held = GatedEngine(open_calls=1 + 3)  # three segments, then the fourth waits
    with tone_app(_replica(tmp_path / "two", postgres_url, poll_seconds=0.2)) as (two, _):
        survivor = two.app.state.services.jobs  # type: ignore[attr-defined]
        try:
            with tone_app(_replica(tmp_path / "one", postgres_url, poll_seconds=600), held) as (one, _):
                job_id = one.post("/api/v1/tts/jobs", json={"script": SCRIPT}).json()["id"]
                wait_until(lambda: held.calls >= 1 + 4)
                # The runner stores the third segment while the fourth is in the engine: wait for its row.
                wait_until(lambda: two.get(f"/api/v1/tts/jobs/{job_id}").json()["segments_done"] >= 3)
                job = two.get(f"/api/v1/tts/jobs/{job_id}").json()
                assert (job["status"], job["segments_done"]) == ("running", 3)
                assert survivor.segments_synthesized == 0, "a job under a live lease is left to its maker"
        finally:  # the first replica stopped in the middle of the job
            held.gate.set()
        job = finished_job(two, job_id)
        assert (job["status"], job["segments_done"]) == ("done", 6)
        assert (survivor.segments_synthesized, survivor.segments_reused) == (3, 0)
        assert two.get(f"/api/v1/tts/jobs/{job_id}/audio").status_code == 200
