"""A job's parameters stay typed from the request to the engine, and are stored as one JSON object in
the form jobs have always been stored in: a job written by an older version resumes with its speed,
sampling options, lexicon and cast."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from megatts3_server.engines.base import SamplingOptions, SynthesisParameters
from megatts3_server.jobs.parameters import JobParameters
from megatts3_server.jobs.postgres_store import PostgresJobStore
from megatts3_server.jobs.script import Segment
from megatts3_server.jobs.store import JobStore
from megatts3_server.storage.postgres import PostgresDatabase
from megatts3_server.tenancy import Caller
from tests.support.standins import finished_job, tone_app, tone_settings

# What the previous version stored for a screenplay line cast by the service, with a request lexicon
# (the API's model_dump(exclude_none=True) plus the keys the intake added; json.dumps' ASCII escapes).
EARLIER_FORM = (
    '{"speed": 2.0, "pitch": 1.0, "emotion": "neutral", "seed": 7, '
    '"lexicon": {"\\u91cd\\u5e86": "chong2 qing4"}, "cast": true}'
)


@pytest.mark.parametrize("stored", [EARLIER_FORM, json.loads(EARLIER_FORM)], ids=["text", "jsonb"])
def test_parameters_stored_by_an_earlier_version_read_as_typed_parameters(stored: str | dict) -> None:
    parameters = JobParameters.from_stored(stored)
    assert parameters == JobParameters(
        SynthesisParameters(speed=2.0, options=SamplingOptions(seed=7)), {"重庆": "chong2 qing4"}, cast=True
    )
    assert json.loads(parameters.to_json()) == json.loads(EARLIER_FORM), "stored in the same form"
    assert JobParameters.from_stored(parameters.to_json()) == parameters


def test_defaults_are_stored_as_the_api_stored_them() -> None:
    assert json.loads(JobParameters().to_json()) == {"speed": 1.0, "pitch": 1.0, "emotion": "neutral"}
    assert JobParameters.from_stored("{}") == JobParameters()


def test_both_stores_read_a_row_an_earlier_version_wrote(
    tmp_path: Path, postgres_url: str, postgres_database: PostgresDatabase
) -> None:
    parsed = JobParameters.from_stored(EARLIER_FORM)
    for store in (JobStore(tmp_path / "sqlite"), PostgresJobStore(postgres_database, tmp_path / "postgres")):
        store.open()
        try:
            job_id = store.create("t", "wav", [Segment("v", "一。", "v", 300)], Caller()).id
            update = "UPDATE job_segments SET parameters = {} WHERE job_id = {}"
            if isinstance(store, JobStore):
                with sqlite3.connect(tmp_path / "sqlite" / "jobs.sqlite3") as db:
                    db.execute(update.format("?", "?"), (EARLIER_FORM, job_id))
            else:
                with psycopg.connect(postgres_url) as db:
                    db.execute(update.format("%s::jsonb", "%s"), (EARLIER_FORM, job_id))
            assert [row.segment.parameters for row in store.segments(job_id)] == [parsed], type(store).__name__
        finally:
            store.close()


def test_a_job_stored_by_an_earlier_version_resumes_with_its_parameters(tmp_path: Path) -> None:
    settings = tone_settings(tmp_path)
    store = JobStore(settings.storage.jobs_dir)
    store.open()
    text = "一二三四五六七八。"
    segments = [Segment("tone_high", text, "林", 300), Segment("tone_low", text, "旁白", 300)]
    job_id = store.create("earlier", "wav", segments, Caller()).id
    store.close()
    # The first segment's row as the earlier version wrote it (the second keeps the defaults).
    with sqlite3.connect(settings.storage.jobs_dir / "jobs.sqlite3") as db:
        db.execute("UPDATE job_segments SET parameters = ? WHERE job_id = ? AND idx = 0", (EARLIER_FORM, job_id))

    with tone_app(settings) as (http, _):
        job = finished_job(http, job_id)
        assert job["status"] == "done" and job["errors"] == [], job
        assert job["cast"] == {
            "林": {"voice_id": "tone_high", "cast": True},
            "旁白": {"voice_id": "tone_low", "cast": False},
        }
        fast, plain = (segment["duration"] for segment in job["segments"])
        assert fast == pytest.approx(plain / 2, rel=0.02), "the stored speed (2.0) is the one spoken"
