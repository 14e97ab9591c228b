"""Long-form jobs on a real server: a Chinese chapter and a screenplay, each made as one job and then
sentence-group by sentence-group through /api/v1/tts/synthesize, for the same segments.

    python bench/jobs.py [--chars 20000] [--lines 200] [--skip-one-by-one] [--json out.json]

The server is the embedded engine on a loopback port (``megatts3-server serve``, audio cache off, rate
limit off). For each of the two works it prints:

- the job's wall time, from storing it to ``done`` (the server's timestamps), and the time from the
  POST to its first finished segment (followed through the job's event stream, as the page does);
- the sum of the request times of the same segments sent one by one through
  /api/v1/tts/synthesize (what a client that glues the audio itself waits), and the ratio
  job / one-by-one (target <= 1.05: the job adds loudness, storage and the track and nothing else);
- the engine's share of each wall time (``megatts3_engine_seconds_total`` over it): what is not
  engine time is the job's or the requests' own overhead; and the overhead ratio, wall time per
  engine second of the job over that of the one-by-one requests. On a shared machine the engine's
  own speed drifts by several percent between two runs of the same segments, which the plain ratio
  carries and the overhead ratio does not;
- the server's peak RSS during the job, and at a quarter of the length (flat in the chapter's
  length: the track is written segment by segment);
- the track's duration.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import ServerProcess, labelled_metric, write_configs  # noqa: E402

from bench.data.intelligibility_sentences import CHINESE_A, CHINESE_B  # noqa: E402
from bench.peak_rss import PeakRss  # noqa: E402

SENTENCES = CHINESE_A + CHINESE_B


def _unique_texts(count: int, sentences_each: int) -> list[str]:
    """``count`` different texts of ``sentences_each`` sentences drawn from the sentence lists: every
    segment of a work is new, so the job's content cache has nothing to reuse (seeded: the same work
    every run)."""
    draw, texts, seen = random.Random(13), [], set()
    while len(texts) < count:
        text = "".join(draw.sample(SENTENCES, sentences_each))
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def chapter(characters: int, first: int = 0) -> str:
    """Paragraphs of four sentences, all different, until ``characters``; ``first`` skips that many
    paragraphs of the sequence (another part of the same book)."""
    paragraphs, total = [], 0
    pool = _unique_texts(first + characters // 40 + 10, 4)[first:]
    while total < characters:
        paragraphs.append(pool[len(paragraphs)])
        total += len(paragraphs[-1])
    return "\n".join(paragraphs)


def screenplay(lines: int) -> tuple[str, dict[str, str]]:
    """Lines of two sentences, all different, in turn by three speakers."""
    names = {"旁白": "voice_005", "林清雅": "voice_002", "老周": "voice_003"}
    texts = _unique_texts(lines, 2)
    return "\n".join(f"{list(names)[n % 3]}：{text}" for n, text in enumerate(texts)), names


def engine_seconds(server: ServerProcess) -> float:
    """Seconds the server's engine has spent synthesizing, all work."""
    return sum(labelled_metric(server, "megatts3_engine_seconds_total", "work").values())


def run_job(http: httpx.Client, server: ServerProcess, body: dict) -> dict:
    assert server.process is not None
    busy = engine_seconds(server)
    with PeakRss(server.process.pid) as rss:
        started = time.perf_counter()
        job = http.post("/api/v1/tts/jobs", json=body)
        job.raise_for_status()
        job_id, first, state = job.json()["id"], None, job.json()
        # Followed through its event stream, as the web page does: no polling load on the server.
        with http.stream("GET", f"/api/v1/tts/jobs/{job_id}/events") as events:
            for line in events.iter_lines():
                if not line.startswith("data: "):
                    continue
                state = json.loads(line.removeprefix("data: "))
                if first is None and state["segments_done"]:
                    first = time.perf_counter() - started
                if state["status"] in ("done", "failed", "cancelled"):
                    break
        wall = state["finished_at"] - state["created_at"]  # the server's own clock, from storing to done
    busy = engine_seconds(server) - busy
    stamps = http.get(f"/api/v1/tts/jobs/{job_id}/timestamps").json()
    return {
        "status": state["status"],
        "segments": state["segments_total"],
        "wall_s": wall,
        "engine_share": busy / wall,
        "first_segment_s": first,
        "peak_rss_mb": rss.peak_mb,
        "audio_s": stamps["duration"],
        "segment_texts": [(segment["voice_id"], segment["text"]) for segment in stamps["segments"]],
    }


def segments_of(body: dict) -> list[tuple[str, str]]:
    """(voice, text) of each segment a job of ``body`` makes, as the service cuts it."""
    from megatts3_server.jobs.script import Pauses, chapter_segments, screenplay_segments

    pauses = Pauses(0, 0, 0)
    if "text" in body:
        made = chapter_segments(body["text"], body["voice_id"], {}, pauses, 1000)
    else:
        made = screenplay_segments(body["screenplay"], body["voices"], {}, pauses)
    return [(segment.voice_id, segment.text) for segment in made]


def one_by_one(http: httpx.Client, server: ServerProcess, segments: list[tuple[str, str]]) -> tuple[float, float]:
    """The summed request times, and the engine's share of them."""
    total, busy = 0.0, engine_seconds(server)
    for voice_id, text in segments:
        started = time.perf_counter()
        http.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": voice_id}).raise_for_status()
        total += time.perf_counter() - started
    return total, (engine_seconds(server) - busy) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--skip-one-by-one", action="store_true")
    parser.add_argument("--works", nargs="+", choices=["chapter", "screenplay"], default=["chapter", "screenplay"])
    parser.add_argument(
        "--baseline-first", action="store_true", help="send the segments one by one before the job, not after"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="megatts3-jobs-") as scratch:
        folder = Path(scratch)
        model_config, api_config = write_configs(
            folder / "server",
            storage=folder / "storage",
            cache=REPO / "build" / "bench-cache",
            model={"cache": {"enabled": False}},
            api={"timeout": 600, "jobs": {"max_characters": max(200_000, 2 * args.chars)}},
        )
        server = ServerProcess(model_config, api_config).start(timeout=600)
        assert server.process is not None
        try:
            with httpx.Client(base_url=server.base_url, timeout=900) as http:
                works = {}
                if "chapter" in args.works:
                    # Another voice: the full chapter starts with the same paragraphs and must not reuse them.
                    works[f"chapter/4 ({args.chars // 4} chars)"] = {
                        "text": chapter(args.chars // 4),
                        "voice_id": "voice_003",
                    }
                    works[f"chapter ({args.chars} chars)"] = {"text": chapter(args.chars), "voice_id": "voice_005"}
                if "screenplay" in args.works:
                    text, voices = screenplay(args.lines)
                    works[f"screenplay ({args.lines} lines)"] = {"screenplay": text, "voices": voices}
                for name, body in works.items():
                    compared = not args.skip_one_by_one and not name.startswith("chapter/4")
                    baseline = None
                    if compared and args.baseline_first:
                        baseline = one_by_one(http, server, segments_of(body))
                    result = run_job(http, server, body)
                    segments = result.pop("segment_texts")
                    if compared:
                        baseline = baseline or one_by_one(http, server, segments)
                        result["one_by_one_s"], result["one_by_one_engine_share"] = baseline
                        result["ratio"] = result["wall_s"] / result["one_by_one_s"]
                        # Wall time per second of engine work, job over one by one: the job's own
                        # overhead, free of the machine's speed drifting between the two runs.
                        result["overhead_ratio"] = result["one_by_one_engine_share"] / result["engine_share"]
                    results[name] = result
                    print(name, json.dumps(result), flush=True)
        finally:
            server.stop()
    print(
        "\n| work | segments | audio s | job wall s | first segment s | one by one s | job / one by one "
        "| engine share job / one by one | overhead ratio | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        by_one = f"{r['one_by_one_s']:.1f}" if "one_by_one_s" in r else "-"
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else "-"
        share = f"{r['engine_share']:.3f}"
        if "one_by_one_engine_share" in r:
            share += f" / {r['one_by_one_engine_share']:.3f}"
        print(
            f"| {name} | {r['segments']} | {r['audio_s']:.1f} | {r['wall_s']:.1f} | {r['first_segment_s']:.1f} "
            f"| {by_one} | {ratio} | {share} | {r.get('overhead_ratio', float('nan')):.3f} | {r['peak_rss_mb']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
