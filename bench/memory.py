"""Memory of a real server under a long mixed load: does its RSS reach a bound, or keep growing?

    python bench/memory.py [--requests 1000] [--long-every 100] [--clients 2] [--quick]
                           [--sample-every 50] [--cache-size 2GB | --no-cache] [--budget 0]
                           [--env KEY=VALUE ...] [--ort-arena on|off] [--ort-mem-pattern on|off]
                           [--ort-extend power|same] [--trim-every SECONDS] [--json results.json]

Starts the service in a subprocess on a loopback port (embedded Kokoro engine, offline,
HF_HUB_OFFLINE=1, rate limit off, cloning budgets 0 unless --budget: an upload is prepared within its
request), then sends ``--requests`` mixed requests over HTTP with httpx from ``--clients`` (at most 2)
threads: short Chinese, English and mixed texts (most of them, each new so it is synthesized), a few
repeats (cache hits), one long text (250–1000 characters) every ``--long-every`` requests, formats
wav/mp3/ogg, streamed and whole, voice uploads of reference clips made new by trimming, resampling,
gain and container (from /work/shared/fixtures/megatts3/*.wav, or --clips), synthesis with the
uploaded voices, one-shot /api/v1/tts/synthesize_file (new and repeated references), voice listings
and deletes.

Every ``--sample-every`` finished requests it samples the server's RSS (/proc/PID/status VmRSS) and the
audio cache's size (/health), and prints a table of RSS vs requests; at the end: the fresh and final
RSS, the peak, the growth over the last half of the requests (a bound flattens, growth keeps climbing)
and the speed: real-time factor of the synthesized (not cached) responses, sum of X-Synthesis-Time
over sum of X-Audio-Duration, and audio seconds per wall second.

A/B switches, for the server process only: --env KEY=VALUE (e.g. MALLOC_ARENA_MAX=2, read by glibc
itself; MEGATTS3_MALLOC=off), --cache-size/--no-cache (model.cache.max_size / enabled), and
--ort-arena/--ort-mem-pattern/--ort-extend/--trim-every, which start the server through a small
bootstrap that overrides onnxruntime's SessionOptions (enable_cpu_mem_arena, enable_mem_pattern,
the session config "arena_extend_strategy" ...) or calls glibc's malloc_trim(0) every SECONDS from a
thread, then runs the same ``megatts3-server serve``. Without those four the server is started exactly
as a user starts it (python -m megatts3_server serve --config ... --model-config ...).

--quick: 240 requests, a long text every 60 (for A/B runs of a hypothesis; about 5-8 minutes here).
Run it with ``nice -n 10`` on a shared machine.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import soundfile
import yaml
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import write_configs  # noqa: E402

FIXTURES = Path("/work/shared/fixtures/megatts3")
FORMATS = ("wav", "mp3", "ogg")
BUILTIN = ("voice_001", "voice_002", "voice_003", "voice_004", "voice_005")

# Short texts (most requests): a second or two of speech each, so that 1,000 requests finish on a
# shared CPU; their lengths vary, and with them the engine's input shapes.
ZH = [
    "你好。",
    "谢谢你的帮助！",
    "今天天气很好。",
    "我们一起去公园散步吧。",
    "会议改到明天下午三点。",
    "请在下一个路口左转。",
    "火车十分钟后到站。",
    "人工智能正在改变我们的生活。",
    "晚饭以后全家人一起看电视。",
    "这本小说讲了一个年轻人的故事。",
]
EN = [
    "Hello there.",
    "Good morning!",
    "Thank you for calling.",
    "The weather is lovely today.",
    "Please bring your umbrella.",
    "The next train leaves in ten minutes.",
    "She opened the window and listened.",
    "Artificial intelligence is changing our lives.",
]
MIXED = [
    "我们用 Python 写一个 server。",
    "请把 PDF 发到我的 email。",
    "下午有一个 meeting。",
    "这个 app 非常好用。",
]
_ZH_PARAGRAPH = (
    "在一个阳光明媚的早晨，小明背着书包走进了学校。他看见同学们正在操场上做早操，老师微笑着向他挥手。"
    "第一节课是语文课，老师给大家讲了一个关于勇气的故事。故事里的小女孩为了救自己的弟弟，独自一人穿过了黑暗的森林。"
    "同学们听得非常认真，有的人甚至感动得流下了眼泪。下课以后，小明和他的好朋友小红一起讨论这个故事。"
)
_EN_PARAGRAPH = (
    "On a bright and sunny morning, the little boy walked into the school with his backpack. He saw his "
    "classmates doing exercises on the playground, and the teacher smiled and waved at him. The first lesson "
    "was about courage: a young girl crossed a dark forest alone to save her little brother. Everyone listened "
    "carefully, and some of them were moved to tears. After class, the boy and his best friend talked about "
    "the story for a long time, wondering what they would have done in her place. "
)
# Long texts, cycled: (language, characters). Chinese is ~4.5 characters a second of speech, English ~15.
# The splitter cuts at 100 characters, so any long Chinese text reaches the longest engine inputs (~500
# phonemes a piece); English pieces stay near 100 phonemes.
LONG_PLAN = [("zh", 300), ("en", 1000), ("zh", 450), ("mixed", 400), ("zh", 250), ("en", 600), ("zh", 350)]


def long_text(language: str, chars: int, number: int) -> str:
    if language == "zh":
        body = _ZH_PARAGRAPH * (chars // len(_ZH_PARAGRAPH) + 1)
    elif language == "en":
        body = _EN_PARAGRAPH * (chars // len(_EN_PARAGRAPH) + 1)
    else:
        body = "".join(itertools.islice(itertools.cycle([*MIXED, _ZH_PARAGRAPH[:60], _EN_PARAGRAPH[:80]]), 40))
    tag = f" 第{number}段。" if language != "en" else f" Part {number}."
    return body[: chars - len(tag)] + tag


# --------------------------------------------------------------------------------------------------
# Reference clips made new: trimmed, resampled, gain, container


class Clips:
    """Deterministic variants of the fixture references; each variant's bytes are unique."""

    def __init__(self, paths: list[Path], seed: int) -> None:
        self._sources = []
        for path in paths:
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
            self._sources.append((samples.mean(axis=1), rate))
        if not self._sources:
            raise SystemExit(f"no reference clips (looked in {FIXTURES}); pass --clips")
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._made: list[tuple[bytes, str]] = []

    def new(self) -> tuple[bytes, str]:
        with self._lock:
            rng = random.Random(self._rng.random())
        samples, rate = rng.choice(self._sources)
        seconds = rng.uniform(2.5, min(9.0, len(samples) / rate))
        start = rng.randint(0, max(0, len(samples) - int(seconds * rate)))
        clip = samples[start : start + int(seconds * rate)]
        target = rng.choice([16_000, 22_050, 24_000, 44_100, 48_000])
        if target != rate:
            divisor = np.gcd(target, rate)
            clip = resample_poly(clip, target // divisor, rate // divisor).astype(np.float32)
        clip = np.clip(clip * rng.uniform(0.5, 1.2), -1, 1)
        container = rng.choice(["wav", "wav", "flac", "ogg"])
        buffer = io.BytesIO()
        if container == "ogg":
            soundfile.write(buffer, clip, target, format="OGG", subtype="VORBIS")
        else:
            soundfile.write(buffer, clip, target, format=container.upper(), subtype="PCM_16")
        made = (buffer.getvalue(), f"ref.{container}")
        with self._lock:
            self._made.append(made)
        return made

    def seen(self, rng: random.Random) -> tuple[bytes, str] | None:
        with self._lock:
            return rng.choice(self._made) if self._made else None


# --------------------------------------------------------------------------------------------------
# The server


BOOTSTRAP = r"""
import ctypes, os, sys, threading, time
import onnxruntime

_Original = onnxruntime.SessionOptions

def _options(*args, **kwargs):
    options = _Original(*args, **kwargs)
    arena = os.environ.get("BENCH_ORT_ARENA")
    if arena:
        options.enable_cpu_mem_arena = arena == "on"
    pattern = os.environ.get("BENCH_ORT_MEM_PATTERN")
    if pattern:
        options.enable_mem_pattern = pattern == "on"
    return options

_Session = onnxruntime.InferenceSession

class _InferenceSession(_Session):
    def __init__(self, path, sess_options=None, providers=None, **kwargs):
        extend = os.environ.get("BENCH_ORT_EXTEND")
        if extend:
            strategy = "kSameAsRequested" if extend == "same" else "kNextPowerOfTwo"
            providers = [("CPUExecutionProvider", {"arena_extend_strategy": strategy})]
        super().__init__(path, sess_options=sess_options, providers=providers, **kwargs)

onnxruntime.SessionOptions = _options
onnxruntime.InferenceSession = _InferenceSession

every = float(os.environ.get("BENCH_TRIM_EVERY") or 0)
if every > 0:
    libc = ctypes.CDLL("libc.so.6")
    def _trim():
        while True:
            time.sleep(every)
            libc.malloc_trim(0)
    threading.Thread(target=_trim, daemon=True, name="bench-trim").start()

from megatts3_server.cli import main
sys.argv = ["megatts3-server", *sys.argv[1:]]
main()
"""


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    console: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        """Resident bytes of the server process (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(args: argparse.Namespace, scratch: Path) -> Server:
    cache = {"enabled": not args.no_cache}
    if args.cache_size:
        cache["max_size"] = args.cache_size
    budget = {"budget_seconds": args.budget, "one_shot_budget_seconds": args.budget}
    model_config, api_config = write_configs(
        scratch / "server",
        storage=scratch / "storage",
        cache=args.model_cache,
        api={"timeout": 900, "scheduler": {"max_queue": 64}},
        model={"inference": {"device": "cpu", "max_length": 1000}, "cloning": budget, "cache": cache},
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    bootstrap = {
        "BENCH_ORT_ARENA": args.ort_arena,
        "BENCH_ORT_MEM_PATTERN": args.ort_mem_pattern,
        "BENCH_ORT_EXTEND": args.ort_extend,
        "BENCH_TRIM_EVERY": str(args.trim_every or ""),
    }
    serve = ["serve", "--config", str(api_config), "--model-config", str(model_config)]
    if any(bootstrap.values()):
        env.update({key: value or "" for key, value in bootstrap.items()})
        command = [sys.executable, "-c", BOOTSTRAP, *serve]
    else:
        command = [sys.executable, "-m", "megatts3_server", *serve]
    console = scratch / "console.log"
    process = subprocess.Popen(command, env=env, stdout=console.open("w"), stderr=subprocess.STDOUT, cwd=scratch)
    port = yaml.safe_load(api_config.read_text())["api"]["port"]
    server = Server(process, f"http://127.0.0.1:{port}", console)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{console.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=2).json().get("model_loaded"):
                return server
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    server.stop()
    raise SystemExit("server did not become ready")


# --------------------------------------------------------------------------------------------------
# The load


@dataclass
class Totals:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    synthesis_seconds: float = 0.0
    audio_seconds: float = 0.0
    """Of synthesized (not cached) responses."""
    all_audio_seconds: float = 0.0
    hits: int = 0


class Load:
    def __init__(self, args: argparse.Namespace, server: Server, clips: Clips) -> None:
        self.args = args
        self.server = server
        self.clips = clips
        self.totals = Totals()
        self._voices: list[str] = []
        self._voices_lock = threading.Lock()
        self._voice_numbers = itertools.count()
        self._said: list[dict] = []

    # what one request is -----------------------------------------------------------------------

    def _short_text(self, rng: random.Random, number: int) -> str:
        pool = rng.choices([ZH, EN, MIXED], weights=[5, 4, 2])[0]
        text = "".join(rng.sample(pool, rng.choice([1, 1, 1, 2])))
        # Each request has a speed of its own (_speech_body), so it is new to the cache; some also get a
        # number, which varies the lengths further.
        if rng.random() < 0.3:
            return f"{text} {number}" if pool is EN else f"{text}{number}。"
        return text

    def _speech_body(self, rng: random.Random, text: str, voice: str) -> dict:
        return {
            "text": text,
            "voice_id": voice,
            "format": rng.choice(FORMATS),
            "stream": rng.random() < 0.35,
            "parameters": {"speed": round(rng.uniform(0.85, 1.2), 3)},
        }

    def _voice(self, rng: random.Random) -> str:
        with self._voices_lock:
            if self._voices and rng.random() < 0.4:
                return rng.choice(self._voices)
        return rng.choice(BUILTIN)

    def request(self, client: httpx.Client, number: int) -> str:
        rng = random.Random(self.args.seed * 1_000_003 + number)
        if self.args.long_every and number % self.args.long_every == self.args.long_every // 2:
            language, chars = LONG_PLAN[(number // self.args.long_every) % len(LONG_PLAN)]
            body = self._speech_body(rng, long_text(language, chars, number), rng.choice(BUILTIN))
            body["stream"] = (number // self.args.long_every) % 2 == 1
            self._speak(client, body)
            return f"long-{language}"
        roll = rng.random()
        if roll < 0.08:
            audio, name = self.clips.new()
            voice_id = f"bench_{next(self._voice_numbers)}"
            response = client.post(
                "/api/v1/voices/upload",
                data={"voice_id": voice_id, "description": "bench"},
                files={"voice_file": (name, audio)},
            )
            self._check(response, "upload")
            if response.status_code in (201, 202):
                with self._voices_lock:
                    self._voices.append(voice_id)
            return "upload"
        if roll < 0.13:
            with self._voices_lock:
                victim = self._voices.pop(rng.randrange(len(self._voices))) if len(self._voices) > 3 else None
            if victim is None:
                self._check(client.get("/api/v1/voices"), "list")
                return "list"
            self._check(client.delete(f"/api/v1/voices/{victim}"), "delete")
            return "delete"
        if roll < 0.21:
            made = self.clips.seen(rng) if rng.random() < 0.3 else None
            audio, name = made or self.clips.new()
            data = {
                "text": self._short_text(rng, number),
                "format": rng.choice(FORMATS),
                "stream": str(rng.random() < 0.3).lower(),
                "speed": str(round(rng.uniform(0.9, 1.1), 3)),
            }
            self._consume(
                client.build_request(
                    "POST", "/api/v1/tts/synthesize_file", data=data, files={"voice_file": (name, audio)}
                ),
                client,
                "oneshot",
            )
            return "oneshot"
        if roll < 0.26:
            with self._voices_lock:
                shown = rng.choice(self._voices) if self._voices and rng.random() < 0.5 else None
            if shown is None:
                self._check(client.get("/api/v1/voices"), "list")
                return "list"
            self._check(client.get(f"/api/v1/voices/{shown}"), "show")
            return "show"
        if roll < 0.41:
            with self._voices_lock:
                said = rng.choice(self._said) if self._said else None
            if said is not None:
                self._speak(client, said)
                return "repeat"
        body = self._speech_body(rng, self._short_text(rng, number), self._voice(rng))
        self._speak(client, body)
        with self._voices_lock:
            if body["voice_id"] in BUILTIN:
                self._said.append(body)
        return "stream" if body["stream"] else "whole"

    def _speak(self, client: httpx.Client, body: dict) -> None:
        self._consume(client.build_request("POST", "/api/v1/tts/synthesize", json=body), client, "synthesize")

    def _consume(self, request: httpx.Request, client: httpx.Client, kind: str) -> None:
        response = client.send(request, stream=True)
        try:
            for _ in response.iter_raw():
                pass
        finally:
            response.close()
        if response.status_code == 409 and kind == "synthesize":  # a voice deleted by the other client
            return
        if not self._check(response, kind):
            return
        duration = float(response.headers.get("X-Audio-Duration") or 0)
        spent = float(response.headers.get("X-Synthesis-Time") or 0)
        with self.totals.lock:
            self.totals.all_audio_seconds += duration
            if response.headers.get("X-Cache") == "hit":
                self.totals.hits += 1
            elif duration and spent:
                self.totals.synthesis_seconds += spent
                self.totals.audio_seconds += duration

    def _check(self, response: httpx.Response, kind: str) -> bool:
        if response.status_code < 400:
            return True
        if response.status_code == 404 and kind in ("delete", "synthesize", "show"):
            return False
        with self.totals.lock:
            key = f"{kind} {response.status_code}"
            self.totals.errors[key] = self.totals.errors.get(key, 0) + 1
        if self.totals.errors[key] <= 2:
            print(f"  ! {key}: {response.read()[:300]!r}", file=sys.stderr, flush=True)
        return False

    # running it ----------------------------------------------------------------------------------

    def run(self) -> list[dict]:
        args = self.args
        rows = [self._sample(0, 0.0)]
        self._print_row(rows[0])
        peak = [rows[0]["rss"]]
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.2):
                try:
                    peak[0] = max(peak[0], self.server.rss())
                except OSError:
                    return

        numbers = iter(range(args.requests))
        numbers_lock = threading.Lock()
        started = time.perf_counter()
        next_sample = [args.sample_every]

        def client_loop() -> None:
            with httpx.Client(base_url=self.server.base_url, timeout=1800) as client:
                while True:
                    with numbers_lock:
                        number = next(numbers, None)
                    if number is None:
                        return
                    try:
                        kind = self.request(client, number)
                    except httpx.HTTPError as exc:
                        kind = "transport-error"
                        with self.totals.lock:
                            self.totals.errors[type(exc).__name__] = self.totals.errors.get(type(exc).__name__, 0) + 1
                    with self.totals.lock:
                        self.totals.done += 1
                        self.totals.kinds[kind] = self.totals.kinds.get(kind, 0) + 1
                        due = self.totals.done >= next_sample[0]
                        if due:
                            next_sample[0] += args.sample_every
                        done = self.totals.done
                    if due:
                        row = self._sample(done, time.perf_counter() - started)
                        row["peak"] = peak[0]
                        rows.append(row)
                        self._print_row(row)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        watcher.join()
        if rows[-1]["requests"] != self.totals.done:
            row = self._sample(self.totals.done, time.perf_counter() - started)
            row["peak"] = peak[0]
            rows.append(row)
            self._print_row(row)
        rows[-1]["peak"] = max(peak[0], rows[-1]["rss"])
        return rows

    def _sample(self, done: int, elapsed: float) -> dict:
        try:
            cache = httpx.get(f"{self.server.base_url}/health", timeout=30).json().get("cache", {})
        except (httpx.HTTPError, ValueError):
            cache = {}
        rss = self.server.rss()
        return {
            "requests": done,
            "elapsed": elapsed,
            "rss": rss,
            "peak": rss,
            "cache_bytes": cache.get("bytes", 0),
            "cache_entries": cache.get("entries", 0),
            "voices": len(self._voices),
        }

    @staticmethod
    def _print_row(row: dict) -> None:
        if row["requests"] == 0:
            print(
                f"{'requests':>8} {'elapsed s':>9} {'RSS MB':>7} {'peak MB':>7} {'cache MB':>8} "
                f"{'entries':>7} {'RSS-cache':>9} {'voices':>6}"
            )
        print(
            f"{row['requests']:>8} {row['elapsed']:>9.0f} {row['rss'] / 1e6:>7.0f} {row['peak'] / 1e6:>7.0f} "
            f"{row['cache_bytes'] / 1e6:>8.1f} {row['cache_entries']:>7} "
            f"{(row['rss'] - row['cache_bytes']) / 1e6:>9.0f} {row['voices']:>6}",
            flush=True,
        )


def summarize(rows: list[dict], totals: Totals, wall: float) -> dict:
    fresh, final = rows[0], rows[-1]
    half = min(rows[1:], key=lambda row: abs(row["requests"] - final["requests"] / 2))
    second_half = [row for row in rows if row["requests"] >= half["requests"]]
    xs = np.array([row["requests"] for row in second_half], float)
    ys = np.array([row["rss"] for row in second_half], float) / 1e6
    slope = float(np.polyfit(xs, ys, 1)[0] * 100) if len(xs) >= 3 else float("nan")
    ys_net = np.array([row["rss"] - row["cache_bytes"] for row in second_half], float) / 1e6
    slope_net = float(np.polyfit(xs, ys_net, 1)[0] * 100) if len(xs) >= 3 else float("nan")
    rtf = totals.synthesis_seconds / totals.audio_seconds if totals.audio_seconds else float("nan")
    return {
        "fresh_mb": fresh["rss"] / 1e6,
        "final_mb": final["rss"] / 1e6,
        "peak_mb": final["peak"] / 1e6,
        "half_requests": half["requests"],
        "half_mb": half["rss"] / 1e6,
        "growth_last_half_mb": (final["rss"] - half["rss"]) / 1e6,
        "slope_last_half_mb_per_100": slope,
        "growth_last_half_without_cache_mb": (
            (final["rss"] - final["cache_bytes"]) - (half["rss"] - half["cache_bytes"])
        )
        / 1e6,
        "slope_last_half_without_cache_mb_per_100": slope_net,
        "cache_mb": final["cache_bytes"] / 1e6,
        "rtf": rtf,
        "synthesized_audio_s": totals.audio_seconds,
        "audio_per_wall_s": totals.all_audio_seconds / wall if wall else float("nan"),
        "wall_s": wall,
        "requests": totals.done,
        "cache_hits": totals.hits,
        "kinds": totals.kinds,
        "errors": totals.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--long-every", type=int, default=100, help="one long text every N requests (0: none)")
    parser.add_argument("--sample-every", type=int, default=50, help="sample RSS every N finished requests")
    parser.add_argument("--clients", type=int, default=2, choices=[1, 2])
    parser.add_argument("--quick", action="store_true", help="240 requests, a long text every 60, samples every 20")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--budget", type=float, default=0.0, help="model.cloning budgets (0: prepared within the request)"
    )
    parser.add_argument("--cache-size", help='model.cache.max_size of the server (default: the config default, "2GB")')
    parser.add_argument("--no-cache", action="store_true", help="model.cache.enabled: false")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a variable for the server")
    parser.add_argument("--ort-arena", choices=["on", "off"], help="override SessionOptions.enable_cpu_mem_arena")
    parser.add_argument("--ort-mem-pattern", choices=["on", "off"], help="override SessionOptions.enable_mem_pattern")
    parser.add_argument("--ort-extend", choices=["power", "same"], help="CPU provider arena_extend_strategy")
    parser.add_argument("--trim-every", type=float, help="call malloc_trim(0) in the server every SECONDS")
    parser.add_argument("--clips", type=Path, nargs="+", default=sorted(FIXTURES.glob("*.wav")))
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "megatts3-bench-model-cache",
        help="where the joined ONNX model is kept between runs",
    )
    parser.add_argument("--json", type=Path, help="write the rows and the summary here")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.long_every, args.sample_every = 240, 60, 20

    switches = {
        k: v
        for k, v in vars(args).items()
        if k in ("env", "ort_arena", "ort_mem_pattern", "ort_extend", "trim_every", "cache_size", "no_cache", "budget")
        and v
    }
    print(
        f"memory bench: {args.requests} requests, long every {args.long_every}, {args.clients} clients, "
        f"switches {switches or 'none'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="megatts3-memory-") as scratch:
        server = start_server(args, Path(scratch))
        try:
            time.sleep(2)  # let start-up settle before the fresh sample
            load = Load(args, server, Clips(args.clips, args.seed))
            started = time.perf_counter()
            rows = load.run()
            wall = time.perf_counter() - started
        finally:
            server.stop()
    summary = summarize(rows, load.totals, wall)
    print()
    print(
        f"fresh RSS {summary['fresh_mb']:.0f} MB -> final {summary['final_mb']:.0f} MB after {summary['requests']} "
        f"requests (peak {summary['peak_mb']:.0f} MB; audio cache {summary['cache_mb']:.0f} MB of it)"
    )
    print(
        f"last half ({summary['half_requests']} -> {summary['requests']} requests): "
        f"{summary['growth_last_half_mb']:+.0f} MB, "
        f"slope {summary['slope_last_half_mb_per_100']:+.1f} MB/100 requests; "
        f"without the audio cache {summary['growth_last_half_without_cache_mb']:+.0f} MB, "
        f"{summary['slope_last_half_without_cache_mb_per_100']:+.1f} MB/100"
    )
    print(
        f"speed: RTF {summary['rtf']:.3f} over {summary['synthesized_audio_s']:.0f} s synthesized "
        f"(X-Synthesis-Time / X-Audio-Duration, cache misses); {summary['audio_per_wall_s']:.2f} audio s per wall s; "
        f"wall {summary['wall_s']:.0f} s; {summary['cache_hits']} cache hits"
    )
    print(f"requests: {summary['kinds']}; errors: {summary['errors'] or 'none'}")
    if args.json:
        args.json.write_text(
            json.dumps({"switches": switches, "rows": rows, "summary": summary}, indent=2, default=str)
        )


if __name__ == "__main__":
    main()
