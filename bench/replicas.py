"""Throughput and latency of 1, 2 and 3 replicas behind nginx, vs one replica with 2 inference threads.

    python bench/replicas.py [--clients 6] [--requests 12] [--layouts 1x1,2x1,3x1,1x2] [--json out.json]

Every layout runs the real stack on loopback, as docker-compose.scale.yml does: one PostgreSQL voice
store (Debian's server, a throw-away cluster), one Redis (the audio cache is off, so every request is
real work), N ``megatts3-server serve`` replicas (one synthesis worker each, ``model.inference.threads``
as the layout says) and nginx with docker/megatts3/nginx-replicas.conf in front. ``--clients`` threads
each send ``--requests`` non-streamed synthesis requests of sentences never sent before (Chinese and
English, 10-40 characters), through nginx, after one warm-up request per replica.

Printed per layout ("RxT": R replicas of T inference threads): audio seconds per wall second (the
throughput), p50 and p99 of the request time, errors, and each figure as a ratio to one replica with
one thread. On a 2-core machine, three single-threaded replicas share two cores: the table says how
much of the second core a second replica or a second thread buys, and what a third replica costs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.nginx import running_nginx  # noqa: E402
from tests.support.postgres import PostgresServer, postgres_bin  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.replicas import running_replicas  # noqa: E402

NGINX_CONFIG = REPO / "docker" / "megatts3" / "nginx-replicas.conf"
CHINESE = [
    "夜深了，街上只剩下几盏路灯",
    "她把信折好，放进了抽屉的最里面",
    "火车在第{n}个站台慢慢停了下来",
    "我们明天早上七点在门口见面",
]
ENGLISH = ["The rain kept falling on the old roof", "He counted {n} steps to the door", "Nobody answered the letter"]


@dataclass
class Layout:
    replicas: int
    threads: int
    audio_per_wall: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    requests: int = 0
    errors: int = 0

    @property
    def name(self) -> str:
        return f"{self.replicas}x{self.threads}"


def _sentence(number: int) -> str:
    pool = CHINESE if number % 3 else ENGLISH
    text = pool[number % len(pool)].format(n=number)
    return f"{text}（{number}）。" if pool is CHINESE else f"{text}, number {number}."


def _run_load(base_url: str, clients: int, requests: int, first: int) -> tuple[list[float], float, int, float]:
    """(request seconds, audio seconds, errors, wall seconds) of ``clients`` x ``requests`` new texts."""
    numbers = itertools.count(first)
    lock = threading.Lock()
    times: list[float] = []
    audio = [0.0]
    errors = [0]

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=600) as http:
            for _ in range(requests):
                with lock:
                    text = _sentence(next(numbers))
                started = time.perf_counter()
                answer = http.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "voice_001"})
                elapsed = time.perf_counter() - started
                with lock:
                    if answer.status_code == 200:
                        times.append(elapsed)
                        audio[0] += float(answer.headers.get("X-Audio-Duration", 0))
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, audio[0], errors[0], time.perf_counter() - started


def _measure(layout: Layout, scratch: Path, database_url: str, redis_url: str, args: argparse.Namespace) -> None:
    folder = scratch / layout.name
    with running_replicas(
        folder,
        scratch / "model-cache",
        layout.replicas,
        database_url=database_url,
        redis_url=redis_url,
        threads=layout.threads,
        cache=False,
    ) as servers:
        for server in servers:  # the first synthesis of each replica pays its warm-up, not the figures
            httpx.post(
                f"{server.base_url}/api/v1/tts/synthesize",
                json={"text": "预热。", "voice_id": "voice_001"},
                timeout=600,
            ).raise_for_status()
        with running_nginx(NGINX_CONFIG, folder / "nginx", [server.port for server in servers]) as nginx:
            times, audio, errors, wall = _run_load(
                nginx.base_url, args.clients, args.requests, first=10_000 * layout.replicas + 1000 * layout.threads
            )
    ordered = sorted(times)
    layout.requests, layout.errors = len(times) + errors, errors
    layout.audio_per_wall = audio / wall
    layout.p50 = statistics.median(ordered) if ordered else float("nan")
    layout.p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--requests", type=int, default=12, help="requests per client and layout")
    parser.add_argument("--layouts", default="1x1,2x1,3x1,1x2", help="RxT: R replicas with T inference threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    layouts = [Layout(*map(int, spec.split("x"))) for spec in args.layouts.split(",")]

    bin_dir = postgres_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed (scripts/install-test-deps.sh)")
    with tempfile.TemporaryDirectory(prefix="megatts3-replicas-") as scratch_name:
        scratch = Path(scratch_name)
        postgres, redis = PostgresServer(bin_dir), RedisServer(scratch)
        postgres.start()
        redis.start()
        try:
            for layout in layouts:
                _measure(layout, scratch, postgres.create_database(), redis.url, args)
                print(f"{layout.name}: {layout.audio_per_wall:.2f} audio s/s, p50 {layout.p50:.2f} s", flush=True)
        finally:
            redis.stop()
            postgres.stop()

    base = next((layout for layout in layouts if (layout.replicas, layout.threads) == (1, 1)), layouts[0])
    print(f"\n{args.clients} clients x {args.requests} new sentences each, through nginx (least_conn), cache off")
    print("| replicas x threads | audio s / wall s | vs 1x1 | p50 s | p99 s | errors |")
    print("|---|---|---|---|---|---|")
    for layout in layouts:
        ratio = layout.audio_per_wall / base.audio_per_wall if base.audio_per_wall else float("nan")
        print(
            f"| {layout.name} | {layout.audio_per_wall:.2f} | {ratio:.2f}x | {layout.p50:.2f} | {layout.p99:.2f} "
            f"| {layout.errors} / {layout.requests} |"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(layout) for layout in layouts], indent=2))


if __name__ == "__main__":
    main()
