"""Load on a real server: throughput, latency percentiles, first audio streamed vs not, cache hits.

    python bench/serve_load.py [--clients 1 4 8 16] [--requests 24] [--url http://127.0.0.1:9000]

Without --url it starts a server on a loopback port (rate limit off). Every load request has a speed
of its own (within 2 %), so none is a cache hit: all of it is real synthesis. Prints per concurrency level:
throughput in audio seconds per wall second and its ratio to the engine called directly (one
stream), latency p50/p95/p99, errors, and the server's peak RSS; then first-audio latency for a
1000-character text streamed vs whole, and a cache hit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import ServerProcess, write_configs  # noqa: E402

from bench.peak_rss import PeakRss  # noqa: E402
from megatts3_server.engines.kokoro import KokoroEngine  # noqa: E402

SENTENCES = [
    "今天天气很好，我们一起去公园散步吧。",
    "人工智能正在改变我们的生活和工作方式。",
    "他每天早上七点起床，然后去学校上课。",
    "The weather is lovely today, so we will take a walk in the park.",
    "Please remember to bring your umbrella because it might rain later.",
    "这本小说讲述了一个年轻人离开家乡去大城市闯荡的故事。",
    "Artificial intelligence is changing the way we live and work.",
    "晚饭以后，全家人坐在一起看电视，聊着今天发生的事情。",
]
_PARAGRAPH = (
    "在一个阳光明媚的早晨，小明背着书包走进了学校。他看见同学们正在操场上做早操，老师微笑着向他挥手。"
    "第一节课是语文课，老师给大家讲了一个关于勇气的故事。故事里的小女孩为了救自己的弟弟，独自一人穿过了黑暗的森林。"
    "同学们听得非常认真，有的人甚至感动得流下了眼泪。下课以后，小明和他的好朋友小红一起讨论这个故事。"
)
LONG_TEXT = (_PARAGRAPH * 8)[:998]  # ~1000 characters, within the default max_length


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _engine_rate(cache: Path) -> float:
    """Audio seconds per wall second of the engine called directly, one stream."""
    engine = KokoroEngine(cache_dir=cache)
    engine.load()
    voice = engine.builtin_context("voice_001")
    engine.synthesize(SENTENCES[0], voice)
    audio = 0.0
    started = time.perf_counter()
    for sentence in SENTENCES:
        audio += len(engine.synthesize(sentence, voice)) / engine.capabilities.sample_rate
    return audio / (time.perf_counter() - started)


def _load(url: str, clients: int, requests: int, pid: int | None) -> dict[str, float | str]:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    audio = 0.0
    lock = threading.Lock()

    def one(number: int) -> None:
        nonlocal audio
        # A speed unique to the level and request (within 2 %): no two requests share a cache key.
        speed = 1.0 + (clients * 100 + number) * 1e-5
        body = {
            "text": SENTENCES[number % len(SENTENCES)],
            "voice_id": "voice_001",
            "format": "wav",
            "parameters": {"speed": round(speed, 5)},
        }
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=600) as client:
            response = client.post("/api/v1/tts/synthesize", json=body)
        elapsed = time.perf_counter() - started
        with lock:
            if response.status_code == 200:
                latencies.append(elapsed)
                audio += float(response.headers["X-Audio-Duration"])
            else:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1

    with PeakRss(pid) as rss, ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        list(pool.map(one, range(requests)))
        wall = time.perf_counter() - started
    return {
        "throughput": audio / wall,
        "p50": _percentile(latencies, 0.5) if latencies else float("nan"),
        "p95": _percentile(latencies, 0.95) if latencies else float("nan"),
        "p99": _percentile(latencies, 0.99) if latencies else float("nan"),
        "errors": sum(errors.values()),
        "error_codes": str(errors or "-"),
        "rss_mb": rss.peak_mb,
    }


def _first_audio(url: str, stream: bool, suffix: str) -> tuple[float, float, str]:
    """(first audio s, total s, "" or the error answered instead: a refusal or timeout is a figure too)."""
    body = {"text": LONG_TEXT + suffix, "voice_id": "voice_002", "format": "pcm", "stream": stream}
    started = time.perf_counter()
    first = None
    with (
        httpx.Client(base_url=url, timeout=600) as client,
        client.stream("POST", "/api/v1/tts/synthesize", json=body) as r,
    ):
        if r.status_code != 200:
            r.read()
            code = (
                r.json().get("error", {}).get("code", "?")
                if r.headers.get("content-type", "").startswith("application/json")
                else "?"
            )
            return float("nan"), time.perf_counter() - started, f"HTTP {r.status_code} {code}"
        for _ in r.iter_raw():
            first = first or time.perf_counter() - started
    return first or float("nan"), time.perf_counter() - started, ""


def _cache_hit(url: str) -> float:
    body = {"text": "缓存命中的延迟。", "voice_id": "voice_001", "format": "mp3"}
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/api/v1/tts/synthesize", json=body).raise_for_status()
        times = []
        for _ in range(20):
            started = time.perf_counter()
            response = client.post("/api/v1/tts/synthesize", json=body)
            times.append(time.perf_counter() - started)
            assert response.headers["X-Cache"] == "hit"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--batch-size", type=int, default=1, help="model.inference.batch_size of the started server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        engine_rate = _engine_rate(cache)
        server = None
        url = args.url
        if url is None:
            model_config, api_config = write_configs(
                Path(scratch) / "server",
                storage=Path(scratch) / "storage",
                cache=cache,
                api={"scheduler": {"max_queue": 64}},
                model={"inference": {"device": "cpu", "max_length": 1000, "batch_size": args.batch_size}},
            )
            server = ServerProcess(model_config, api_config).start()
            url = server.base_url
        pid = server.process.pid if server and server.process else None
        try:
            print(f"engine called directly, one stream: {engine_rate:.2f} audio s/s (batch_size {args.batch_size})")
            print(
                f"{'clients':>7} {'audio s/s':>9} {'vs engine':>9} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} "
                f"{'errors':>6} {'peak RSS MB':>11}"
            )
            for clients in args.clients:
                row = _load(url, clients, args.requests, pid)
                print(
                    f"{clients:>7} {row['throughput']:>9.2f} {row['throughput'] / engine_rate:>9.2f} "
                    f"{row['p50']:>7.2f} {row['p95']:>7.2f} {row['p99']:>7.2f} {row['errors']:>6} "
                    f"{row['rss_mb']:>11.0f}  {row['error_codes'] if row['errors'] else ''}"
                )
            streamed_first, streamed_total, streamed_error = _first_audio(url, True, "一")
            whole_first, whole_total, whole_error = _first_audio(url, False, "二")
            whole = f"{whole_first:.2f} s" if not whole_error else f"{whole_error} after {whole_total:.1f} s"
            streamed = f"{streamed_first:.2f} s" if not streamed_error else f"{streamed_error}"
            print(
                f"{len(LONG_TEXT)}-character text: first audio streamed {streamed} "
                f"(total {streamed_total:.2f} s) vs whole {whole}; "
                f"ratio {whole_first / streamed_first:.1f}x (target streamed <= 1.5 s)"
            )
            print(f"cache hit (mp3, median of 20): {1000 * _cache_hit(url):.1f} ms (target <= 5 ms)")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
