"""/health latency while hostile requests run, and the server's RSS after start and after a mixed load.

    python bench/stall.py [--seconds 12] [--attackers 1] [--entries 100000] [--mixed 1000]
                          [--only NAME ...] [--budget 0] [--json results.json]

Starts the service as bench/memory.py does (``python -m megatts3_server serve`` on loopback, the
embedded Kokoro engine, rate limit off, cloning budgets --budget) and prints its RSS right after
start. Then, for the idle server and for each attack: a probe sends GET /health every 20 ms from a
connection of its own while --attackers threads send the attack's requests back to back for --seconds; it
prints the probe's p50, p99 and max, the p99's ratio to the idle p99, and how the attack's requests
were answered. Target (issue 25): /health p99 <= 100 ms during every attack. Last, --mixed requests of
bench/memory.py's mixed load (short and long texts, every format, streams, uploads, one-shot
references, deletes) and the RSS after them (0: skipped).

The attacks (issue 25's class 2, and the others found with it):

- ``screenplay``: a job whose screenplay is 8,000 spaces then "x" (its line regex was quadratic, on
  the event loop: 27 s per request);
- ``lexicon-get``: GET /api/v1/lexicon with --entries stored entries (19.5 s of stall each);
- ``request-lexicon``: a short synthesis with a one-entry lexicon of its own, --entries stored (23 s
  each, +105 MB: the global lexicon was merged and its pattern compiled again);
- ``lexicon-put``: PUT /api/v1/lexicon of 10,000 entries (2 s);
- ``job-intake``: a job of 190,000 characters in 1,000-character paragraphs, refused at the end of its
  intake for its voice (its every segment was checked on the loop);
- ``json-10mb``: a synthesis whose body is 10 MB of JSON (parsed before it is refused).

Run the same bench on another checkout's code for a before/after: ``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.memory import FIXTURES, Clips, Load, start_server, summarize  # noqa: E402

TARGET_P99_MS = 100.0
PROBE_EVERY = 0.02


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


class Probe:
    """GET /health every 20 ms until stopped; the latencies in ms."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=120) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    client.get("/health")
                    self.latencies.append((time.perf_counter() - started) * 1000)
                except httpx.HTTPError:
                    self.failures += 1
                self._stop.wait(PROBE_EVERY)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


Attack = Callable[[httpx.Client, int], httpx.Response]


def _attacks(entries: int) -> dict[str, Attack]:
    screenplay = {"screenplay": " " * 8000 + "x", "voices": {"A": "voice_001"}}
    paragraph = "今天天气很好，我们一起去公园散步，看见湖边有很多人在钓鱼，孩子们在草地上奔跑。" * 25
    # Checked whole (every segment), then refused for its voice: no job is left to run in the background.
    long_job = {"text": "\n".join(f"{paragraph[:990]}{n}。" for n in range(190)), "voice_id": "no_such_voice"}
    put = {"entries": {f"bulk{n}": "/bˈʌlk/" for n in range(10_000)}}
    huge = json.dumps({"text": "a" * 10_000_000, "voice_id": "voice_001"}).encode()
    return {
        "screenplay": lambda client, n: client.post("/api/v1/tts/jobs", json=screenplay),
        "lexicon-get": lambda client, n: client.get("/api/v1/lexicon"),
        "request-lexicon": lambda client, n: client.post(
            "/api/v1/tts/synthesize",
            json={"text": "Hi.", "voice_id": "voice_001", "format": "pcm", "lexicon": {f"word{n}": "/wˈɜɹd/"}},
        ),
        "lexicon-put": lambda client, n: client.put("/api/v1/lexicon", json=put),
        "job-intake": lambda client, n: client.post("/api/v1/tts/jobs", json=long_job),
        "json-10mb": lambda client, n: client.post(
            "/api/v1/tts/synthesize", content=huge, headers={"Content-Type": "application/json"}
        ),
    }


def measure(base_url: str, seconds: float, attack: Attack | None, attackers: int = 1) -> dict:
    """The probe's figures while ``attack`` runs from ``attackers`` threads for ``seconds`` (None: idle)."""
    statuses: Counter[str] = Counter()
    durations: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    numbers = iter(range(10**9))

    def attacker() -> None:
        with httpx.Client(base_url=base_url, timeout=600) as client:
            while not stop.is_set():
                with lock:
                    number = next(numbers)
                started = time.perf_counter()
                try:
                    status = str(attack(client, number).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    statuses[status] += 1
                    durations.append(time.perf_counter() - started)

    with Probe(base_url) as probe:
        threads = [threading.Thread(target=attacker, daemon=True) for _ in range(attackers if attack else 0)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
    latencies = probe.latencies
    return {
        "probes": len(latencies),
        "probe_failures": probe.failures,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "attack_requests": sum(statuses.values()),
        "attack_statuses": dict(statuses),
        "attack_mean_s": statistics.mean(durations) if durations else 0.0,
    }


def _store_entries(base_url: str, entries: int) -> None:
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for start in range(0, entries, 10_000):
            batch = {f"stored{n}": "/stˈɔɹd/" for n in range(start, min(entries, start + 10_000))}
            client.put("/api/v1/lexicon", json={"entries": batch}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0, help="how long each attack runs")
    parser.add_argument("--attackers", type=int, default=1, help="threads sending each attack's requests")
    parser.add_argument("--entries", type=int, default=100_000, help="stored lexicon entries during the attacks")
    parser.add_argument("--mixed", type=int, default=1000, help="mixed requests for the RSS after load (0: none)")
    parser.add_argument("--only", nargs="+", help="run only these attacks")
    parser.add_argument("--budget", type=float, default=0.0, help="model.cloning budgets of the server")
    parser.add_argument("--model-cache", type=Path, default=Path(tempfile.gettempdir()) / "megatts3-bench-model-cache")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    attacks = _attacks(args.entries)
    chosen = {name: attack for name, attack in attacks.items() if not args.only or name in args.only}
    server_args = argparse.Namespace(
        no_cache=False,
        cache_size=None,
        budget=args.budget,
        env=[],
        ort_arena=None,
        ort_mem_pattern=None,
        ort_extend=None,
        trim_every=None,
        model_cache=args.model_cache,
    )
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="megatts3-stall-") as scratch:
        server = start_server(server_args, Path(scratch))
        try:
            time.sleep(2)  # start-up settles
            results["rss_after_start_mb"] = server.rss() / 1e6
            print(f"RSS right after start: {results['rss_after_start_mb']:.0f} MB", flush=True)
            idle = measure(server.base_url, args.seconds, None)
            results["idle"] = idle
            print(f"{'attack':<16} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'p99/idle':>8} {'ok':>3}  requests")
            _print("idle", idle, idle)
            started = time.perf_counter()
            _store_entries(server.base_url, args.entries)
            print(f"({args.entries} lexicon entries stored in {time.perf_counter() - started:.0f} s)", flush=True)
            for name, attack in chosen.items():
                results[name] = measure(server.base_url, args.seconds, attack, args.attackers)
                _print(name, results[name], idle)
            if args.mixed:
                load_args = argparse.Namespace(
                    requests=args.mixed, long_every=100, sample_every=max(50, args.mixed // 10), clients=2, seed=1
                )
                load = Load(load_args, server, Clips(sorted(FIXTURES.glob("*.wav")), 1))
                began = time.perf_counter()
                rows = load.run()
                summary = summarize(rows, load.totals, time.perf_counter() - began)
                results["mixed"] = summary
                print(
                    f"RSS after {summary['requests']} mixed requests: {summary['final_mb']:.0f} MB (peak "
                    f"{summary['peak_mb']:.0f} MB, audio cache {summary['cache_mb']:.0f} MB of it); "
                    f"errors: {summary['errors'] or 'none'}"
                )
        finally:
            server.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def _print(name: str, figures: dict, idle: dict) -> None:
    ratio = figures["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")
    verdict = "yes" if figures["p99_ms"] <= TARGET_P99_MS else "NO"
    answered = ", ".join(f"{status}: {count}" for status, count in sorted(figures["attack_statuses"].items()))
    print(
        f"{name:<16} {figures['p50_ms']:>7.1f} {figures['p99_ms']:>7.1f} {figures['max_ms']:>8.1f} {ratio:>8.2f} "
        f"{verdict:>3}  {figures['attack_requests']} ({answered or '-'}; {figures['attack_mean_s']:.2f} s each)",
        flush=True,
    )


if __name__ == "__main__":
    main()
