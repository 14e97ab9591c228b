"""Do a long-form job's subtitles match its audio? A check that needs no listening.

    python bench/subtitle_alignment.py [--lines 24] [--json out.json]

A real server (the embedded engine, loopback port) makes a screenplay of three speakers, Chinese and
English lines, into one WAV track with its WebVTT-style timestamps. Then, from the track alone:

- **speech outside the cues**: of the track's 20 ms frames with speech in them (RMS above -45 dBFS; the
  segments are normalized to -18 LUFS, the pauses are digital silence), the share that falls outside
  every sentence cue (target: ~0);
- **cue fill**: per cue, the share of its frames with speech (a cue placed on silence has ~0);
- **edges**: per segment, how far its first and last speech frame are from the segment's start and
  end in the timestamps (ms; the engine's own leading/trailing silence shows here);
- **what a cue says**: each cue's audio, cut out of the track, transcribed by the test suite's Whisper
  and scored against the cue's text (Chinese CER, English WER; both normalized as the service reads
  text, so "399" and 三百九十九 agree).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import ServerProcess, write_configs  # noqa: E402
from tests.support.speech import cer_zh, transcribe, wer_en  # noqa: E402

from bench.data.intelligibility_sentences import CHINESE_A, ENGLISH  # noqa: E402
from megatts3_server.text import normalize  # noqa: E402

FRAME_S = 0.02
SPEECH_DBFS = -45.0
CAST = {"旁白": "voice_005", "林清雅": "voice_002", "Tom": "voice_003"}


def screenplay(lines: int) -> str:
    chinese, english = itertools.cycle(CHINESE_A), itertools.cycle(ENGLISH)
    rows = []
    for number in range(lines):
        name = list(CAST)[number % 3]
        rows.append(f"{name}：{next(english) if name == 'Tom' else next(chinese)}")
    return "\n".join(rows)


def speech_frames(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per 20 ms frame: whether it holds speech."""
    size = round(FRAME_S * rate)
    frames = samples[: samples.size // size * size].reshape(-1, size)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12
    return 20 * np.log10(rms) > SPEECH_DBFS


def make_job(base_url: str, text: str) -> tuple[np.ndarray, int, dict]:
    with httpx.Client(base_url=base_url, timeout=600) as http:
        created = http.post("/api/v1/tts/jobs", json={"screenplay": text, "voices": CAST, "format": "wav"})
        created.raise_for_status()
        job_id = created.json()["id"]
        while (state := http.get(f"/api/v1/tts/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            time.sleep(0.5)
        if state["status"] != "done":
            raise SystemExit(f"the job failed: {state}")
        samples, rate = soundfile.read(io.BytesIO(http.get(f"/api/v1/tts/jobs/{job_id}/audio").content))
        stamps = http.get(f"/api/v1/tts/jobs/{job_id}/timestamps").json()
    return np.asarray(samples, np.float32), int(rate), stamps


def measure(samples: np.ndarray, rate: int, stamps: dict) -> dict:
    speech = speech_frames(samples, rate)
    times = (np.arange(speech.size) + 0.5) * FRAME_S
    cues = [
        (segment["speaker"], sentence)
        for segment in stamps["segments"]
        for sentence in segment["sentences"]
        if sentence["text"].strip() and sentence["end"] > sentence["start"]
    ]
    inside = np.zeros(speech.size, bool)
    fills, scores = [], []
    for speaker, cue in cues:
        span = (times >= cue["start"]) & (times < cue["end"])
        inside |= span
        fills.append(float(speech[span].mean()) if span.any() else 0.0)
        piece = samples[round(cue["start"] * rate) : round(cue["end"] * rate)]
        buffer = io.BytesIO()
        soundfile.write(buffer, piece, rate, format="WAV")
        english = speaker == "Tom"
        heard = transcribe(buffer.getvalue(), "en" if english else "zh")
        # Both sides read the way the service reads text (Whisper writes "399" for 三百九十九).
        reference, hypothesis = normalize(cue["text"]), normalize(heard)
        score = wer_en(reference, hypothesis) if english else cer_zh(reference, hypothesis)
        scores.append({"speaker": speaker, "text": cue["text"], "heard": heard, "error": score, "english": english})
    onsets, tails = [], []
    for segment in stamps["segments"]:
        span = np.flatnonzero((times >= segment["start"]) & (times < segment["end"]) & speech)
        if span.size:
            onsets.append((times[span[0]] - FRAME_S / 2 - segment["start"]) * 1000)
            tails.append((segment["end"] - (times[span[-1]] + FRAME_S / 2)) * 1000)
    outside = float((speech & ~inside).sum() / max(speech.sum(), 1))
    zh = [s["error"] for s in scores if not s["english"]]
    en = [s["error"] for s in scores if s["english"]]
    return {
        "track_s": round(samples.size / rate, 2),
        "segments": len(stamps["segments"]),
        "cues": len(cues),
        "speech_outside_cues": round(outside, 4),
        "cue_fill_min": round(min(fills), 3),
        "cue_fill_median": round(statistics.median(fills), 3),
        "onset_ms_median": round(statistics.median(onsets), 1),
        "onset_ms_max": round(max(onsets), 1),
        "tail_ms_median": round(statistics.median(tails), 1),
        "tail_ms_max": round(max(tails), 1),
        "zh_cue_cer_mean": round(statistics.mean(zh), 3) if zh else None,
        "en_cue_wer_mean": round(statistics.mean(en), 3) if en else None,
        "cues_over_0_5": sum(s["error"] > 0.5 for s in scores),
        "worst": sorted(scores, key=lambda s: -s["error"])[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=24)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model_config, api_config = write_configs(
            root / "server",
            storage=root / "storage",
            cache=REPO / "build" / "bench-cache",
            model={"cache": {"enabled": False}},
            api={"rate_limit": {"enabled": False}},
        )
        server = ServerProcess(model_config, api_config).start(timeout=600)
        try:
            samples, rate, stamps = make_job(server.base_url, screenplay(args.lines))
        finally:
            server.stop()
    result = measure(samples, rate, stamps)
    for name, value in result.items():
        if name != "worst":
            print(f"{name:>22}: {value}")
    for worst in result["worst"]:
        print(f"  worst {worst['error']:.2f} {worst['speaker']}: {worst['text']} -> {worst['heard']}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
