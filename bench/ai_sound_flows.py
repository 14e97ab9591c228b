"""AI-Sound's backend replayed against the default configuration (plus the README's platform settings),
on an idle and on a loaded machine: what each flow costs and how long a new reference takes to prepare.

    python bench/ai_sound_flows.py [--load-threads 2] [--references 4]

Starts the service as `make serve` would (configs/*.yaml) with API_PORT and MEGATTS3_TRUSTED_NETWORKS
set. Prints, for each phase: every call's status, the wall time of calls that prepared a new
reference (X-Voice-Prepared: new) against model.cloning.one_shot_budget_seconds, the search time the
server logged ("enrolled a voice ... N s") and its ratio to the budget, and the time of the 27-call
grid and a 14-segment novel. "Loaded" runs other synthesis requests in parallel threads (a busy box).
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.platform.ai_sound_backend import AISoundBackend, read_wav_like_pydub  # noqa: E402
from tests.platform.test_ai_sound_backend import NOVEL  # noqa: E402
from tests.support.audio import decode, encode  # noqa: E402
from tests.support.server import free_port, running_default_server  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures" / "megatts3"
_SEARCH_LOG = re.compile(r"enrolled a voice from \S+: similarity \S+ -> \S+ in (\d+) syntheses, ([\d.]+) s")


def _references(folder: Path, count: int) -> list[Path]:
    """``count`` distinct references from the example voices (each a new recording to the service)."""
    made = []
    for number in range(count):
        prompt = ("Chinese_prompt", "English_prompt")[number % 2]
        samples, rate = decode((FIXTURES / f"{prompt}.wav").read_bytes())
        path = folder / f"角色{number}.wav"
        path.write_bytes(encode(np.asarray(samples * (0.9 - 0.05 * number), np.float32), rate, "wav"))
        made.append(path)
    return made


def _load(base_url: str, stop: threading.Event, number: int) -> None:
    with httpx.Client(base_url=base_url, timeout=600) as http:
        for n in itertools.count():
            if stop.is_set():
                return
            text = f"后台负载第{number}-{n}句，让机器忙起来，像繁忙的服务器一样。"
            http.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": "voice_003"})


def _phase(name: str, backend: AISoundBackend, references: list[Path], console: Path, budget: float) -> None:
    seen_logs = len(_SEARCH_LOG.findall(console.read_text()))
    prepared = []
    for reference in references:
        started = time.perf_counter()
        call = backend.synthesize(f"{name} preview", "你好，这是我的声音。", reference, None, 20, 1.0, 1.0)
        read_wav_like_pydub(call.body)
        if call.headers.get("x-voice-prepared") == "new":
            prepared.append(time.perf_counter() - started)
    searches = [(int(n), float(s)) for n, s in _SEARCH_LOG.findall(console.read_text())[seen_logs:]]
    started = time.perf_counter()
    for time_step, p_w, t_w in itertools.product([15, 20, 25], [0.8, 1.0, 1.2], [0.8, 1.0, 1.2]):
        backend.synthesize(f"{name} grid", "这是参数测试。", references[0], None, time_step, p_w, t_w)
    grid = time.perf_counter() - started
    started = time.perf_counter()
    for number, (_, text) in enumerate(NOVEL):
        backend.synthesize(f"{name} novel", text, references[number % len(references)])
    novel = time.perf_counter() - started
    statuses = sorted({call.status for call in backend.calls})
    seconds = [s for _, s in searches]
    print(f"== {name}: statuses {statuses} over {len(backend.calls)} calls")
    print(
        f"   new-reference calls: {len(prepared)}, "
        f"wall p50 {statistics.median(prepared):.1f} s, max {max(prepared):.1f} s"
    )
    print(
        f"   search time (server log): mean {statistics.mean(seconds):.1f} s, max {max(seconds):.1f} s for a "
        f"{budget:g} s budget (max/budget {max(seconds) / budget:.2f}); syntheses per search "
        f"{statistics.mean(n for n, _ in searches):.1f}"
    )
    print(f"   27-call grid {grid:.1f} s ({grid / 27:.2f} s a call); 14-segment novel {novel:.1f} s")
    backend.calls.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-threads", type=int, default=2)
    parser.add_argument("--references", type=int, default=4)
    args = parser.parse_args()
    budget = yaml.safe_load((REPO / "configs" / "model_config.yaml").read_text())["model"]["cloning"][
        "one_shot_budget_seconds"
    ]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        env = {"API_PORT": str(free_port()), "MEGATTS3_TRUSTED_NETWORKS": "127.0.0.0/8"}
        with running_default_server(folder / "server", folder / "cache", env) as server:
            console = folder / "server" / "console.log"
            backend = AISoundBackend(server.base_url)
            references = _references(folder, 2 * args.references)
            _phase("idle", backend, references[: args.references], console, budget)
            stop = threading.Event()
            loaders = [
                threading.Thread(target=_load, args=(server.base_url, stop, n), daemon=True)
                for n in range(args.load_threads)
            ]
            for thread in loaders:
                thread.start()
            try:
                _phase(
                    f"loaded ({args.load_threads} synthesis threads beside)",
                    backend,
                    references[args.references :],
                    console,
                    budget,
                )
            finally:
                stop.set()
                for thread in loaders:
                    thread.join(timeout=120)


if __name__ == "__main__":
    main()
