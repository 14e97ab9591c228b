"""What a client sees of a job: its record, progress, time left, per-segment outcomes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from megatts3_server.jobs.records import FINISHED, RUNNING, JobRecord, SegmentRow


@dataclass(frozen=True)
class JobView:
    record: JobRecord
    progress: float
    seconds_left: float | None
    errors: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    cast: dict[str, dict[str, Any]]
    """Each speaker's voice id, and whether the service cast it (else the request gave it)."""


def job_view(record: JobRecord, rows: list[SegmentRow], rate: float | None) -> JobView:
    """The view of a job from its record and segment rows; ``rate``: characters per second of the
    runner making it here (None: estimated from what is stored)."""
    finished = record.segments_done + record.segments_failed
    progress = 100.0 * finished / record.segments_total if record.segments_total else 100.0
    left_chars = sum(len(row.segment.text) for row in rows if row.status == "pending")
    rate = rate or _stored_rate(record, rows)
    return JobView(
        record=record,
        progress=round(progress, 1),
        seconds_left=round(left_chars / rate, 1) if rate and record.status not in FINISHED else None,
        errors=[{"segment": row.index, "error": row.error} for row in rows if row.error],
        cast=_cast_of(rows),
        segments=[
            {
                "index": row.index,
                "speaker": row.segment.speaker,
                "voice_id": row.segment.voice_id,
                "text": row.segment.text,
                "status": row.status,
                "duration": row.duration,
            }
            for row in rows
        ],
    )


def _cast_of(rows: list[SegmentRow]) -> dict[str, dict[str, Any]]:
    """Each speaker's voice (the first it speaks with), and whether the service cast it."""
    cast: dict[str, dict[str, Any]] = {}
    for row in rows:
        segment = row.segment
        cast.setdefault(segment.speaker, {"voice_id": segment.voice_id, "cast": segment.parameters.cast})
    return cast


def progress_of(record: JobRecord) -> tuple[str, int, int]:
    """What changes a job's view: its status and how many segments have an outcome."""
    return record.status, record.segments_done, record.segments_failed


def _stored_rate(record: JobRecord, rows: list[SegmentRow]) -> float | None:
    """Characters synthesized per second since the job started, from what is stored (the speed a
    replica that is not making the job can tell)."""
    if record.status != RUNNING or record.started_at is None:
        return None
    spoken = sum(len(row.segment.text) for row in rows if row.status == "done" and not row.reused)
    elapsed = time.time() - record.started_at
    return spoken / elapsed if spoken and elapsed > 0 else None
