"""A finished job's results: the whole track in its format, written to disk segment by segment (never
held whole in memory), and the times of every segment and sentence as JSON, SRT and WebVTT."""

from __future__ import annotations

import json
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from megatts3_server.audio import AudioFormat, to_pcm16
from megatts3_server.audio.encode import FORMATS, float_frame, open_container
from megatts3_server.jobs.records import SegmentRow, SentenceTime, replacing
from megatts3_server.jobs.store_interface import JobStoreInterface


@dataclass(frozen=True)
class TimedSegment:
    index: int
    speaker: str
    voice_id: str
    text: str
    start: float
    end: float
    sentences: list[SentenceTime]


def track_name(fmt: AudioFormat) -> str:
    return f"track.{FORMATS[fmt].extension}"


def write_results(
    store: JobStoreInterface, job_id: str, rows: list[SegmentRow], fmt: AudioFormat, sample_rate: int
) -> None:
    """The track, then timestamps.json (written last: a job's results exist once it does)."""
    finished = [row for row in rows if row.status == "done" and row.key]
    timed: list[TimedSegment] = []
    position = 0  # samples written so far
    with _TrackWriter(store.result_path(job_id, track_name(fmt)), fmt, sample_rate) as track:
        for number, row in enumerate(finished):
            assert row.key is not None
            audio = store.segment_audio(row.key)
            start = position / sample_rate
            timed.append(
                TimedSegment(
                    index=row.index,
                    speaker=row.segment.speaker,
                    voice_id=row.segment.voice_id,
                    text=row.segment.text,
                    start=round(start, 3),
                    end=round(start + audio.size / sample_rate, 3),
                    sentences=[
                        SentenceTime(s.text, round(start + s.start, 3), round(start + s.end, 3))
                        for s in store.segment_sentences(row.key)
                    ],
                )
            )
            track.write(audio)
            position += audio.size
            if number < len(finished) - 1:
                pause = np.zeros(round(row.segment.pause_ms / 1000 * sample_rate), np.float32)
                track.write(pause)
                position += pause.size
    timestamps = {
        "duration": round(position / sample_rate, 3),
        "sample_rate": sample_rate,
        "segments": [asdict(segment) for segment in timed],
    }
    with replacing(store.result_path(job_id, "timestamps.json")) as partial:
        partial.write_text(json.dumps(timestamps, ensure_ascii=False, indent=1))


class _TrackWriter:
    """Samples appended to a file in ``fmt`` as they come (WAV/PCM directly, others through FFmpeg)."""

    def __init__(self, path: Path, fmt: AudioFormat, sample_rate: int) -> None:
        self._path, self._fmt, self._rate = path, fmt, sample_rate
        self._replacing = replacing(path)

    def __enter__(self) -> _TrackWriter:
        partial = self._replacing.__enter__()
        if self._fmt is AudioFormat.WAV:
            self._wav = wave.open(str(partial), "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self._rate)
        else:
            self._file = partial.open("wb")
            if self._fmt is not AudioFormat.PCM:
                self._container = open_container(self._file, self._fmt, self._rate)
                self._muxer, self._stream = self._container.__enter__()
        return self

    def write(self, samples: np.ndarray) -> None:
        if not samples.size:
            return
        if self._fmt is AudioFormat.WAV:
            self._wav.writeframes(to_pcm16(samples).tobytes())
        elif self._fmt is AudioFormat.PCM:
            self._file.write(to_pcm16(samples).tobytes())
        else:
            for packet in self._stream.encode(float_frame(samples, self._rate)):
                self._muxer.mux(packet)

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        try:
            if self._fmt is AudioFormat.WAV:
                self._wav.close()
            else:
                if self._fmt is not AudioFormat.PCM:
                    self._container.__exit__(kind, error, trace)
                self._file.close()
        finally:
            self._replacing.__exit__(kind, error, trace)  # type: ignore[arg-type]


def read_timestamps(store: JobStoreInterface, job_id: str) -> dict | None:
    path = store.result_path(job_id, "timestamps.json")
    return json.loads(path.read_text()) if path.exists() else None


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(timestamps: dict) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, text) per sentence that has text to show."""
    return [
        (sentence["start"], sentence["end"], segment["speaker"], sentence["text"].strip())
        for segment in timestamps["segments"]
        for sentence in segment["sentences"]
        if sentence["text"].strip() and sentence["end"] > sentence["start"]
    ]


def srt(timestamps: dict) -> str:
    blocks = [
        f"{number}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
        for number, (start, end, _, text) in enumerate(_cues(timestamps), start=1)
    ]
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(timestamps: dict) -> str:
    blocks = [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n<v {_vtt_text(speaker)}>{_vtt_text(text)}\n"
        for start, end, speaker, text in _cues(timestamps)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
