"""What both job stores (SQLite in store.py, PostgreSQL in postgres_store.py) hold and hand out: job
records, segment rows and sentence times, the rows they are read from, and the finished job's result
files, which are always on this machine's disk (``<jobs_dir>/<job id>/``): a replica that did not make
a job's track builds it from the stored segments when it is first asked for (service/jobs.py)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from megatts3_server.jobs.parameters import JobParameters
from megatts3_server.jobs.script import Segment
from megatts3_server.tenancy import DEFAULT_TENANT

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
# Job ids are uuid4 hex: a folder named so under jobs_dir holds a job's results.
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class SegmentRow:
    index: int
    segment: Segment
    status: str
    key: str | None
    duration: float | None
    reused: bool
    error: str | None


@dataclass(frozen=True)
class JobRecord:
    id: str
    title: str
    format: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    segments_total: int
    segments_done: int
    segments_failed: int
    audio_seconds: float
    tenant: str = DEFAULT_TENANT
    """Who owns the job (tenancy.py); its segments speak that tenant's voices and read its lexicon."""
    by_admin: bool = False
    """Submitted by an admin: its segments may speak any tenant's voices, as the admin could."""


@dataclass(frozen=True)
class SentenceTime:
    text: str
    start: float
    end: float


def record_from_row(row: Mapping[str, Any]) -> JobRecord:
    """A job's summary row (its columns, ``segments_*`` and ``audio``) as a record."""
    return JobRecord(
        id=row["id"],
        title=row["title"],
        format=row["format"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        segments_total=row["segments_total"] or 0,
        segments_done=row["segments_done"] or 0,
        segments_failed=row["segments_failed"] or 0,
        audio_seconds=float(row["audio"] or 0.0),
        tenant=row["tenant"],
        by_admin=bool(row["by_admin"]),
    )


def segment_from_row(row: Mapping[str, Any]) -> SegmentRow:
    return SegmentRow(
        index=row["idx"],
        segment=Segment(
            row["voice_id"],
            row["text"],
            row["speaker"],
            row["pause_ms"],
            JobParameters.from_stored(row["parameters"]),
        ),
        status=row["status"],
        key=row["segment_key"],
        duration=row["duration"],
        reused=bool(row["reused"]),
        error=row["error"],
    )


def pcm16_samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32767.0


class LocalResults:
    """A finished job's files in ``<folder>/<job id>/`` on this machine."""

    folder: Path

    def job_folder(self, job_id: str) -> Path:
        return self.folder / job_id

    def result_path(self, job_id: str, name: str) -> Path:
        return self.job_folder(job_id) / name

    def remove_results(self, job_id: str) -> None:
        shutil.rmtree(self.job_folder(job_id), ignore_errors=True)

    def local_job_ids(self) -> list[str]:
        """The jobs this machine has result files for."""
        if not self.folder.is_dir():
            return []
        return [path.name for path in self.folder.iterdir() if path.is_dir() and _JOB_ID.match(path.name)]

    def drop_partial_files(self) -> None:
        for leftover in self.folder.rglob("*.partial"):  # a write a crash cut short
            leftover.unlink(missing_ok=True)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A ``.partial`` file beside ``path``, renamed onto it when the block ends without an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
