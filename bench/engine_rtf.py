"""Real-time factor of the embedded engine called directly vs through the HTTP API.

    python bench/engine_rtf.py [--runs 5] [--language zh|en]

Prints, for a sentence of about 10 s of speech: the engine's RTF called in process (engine only, and
the full pipeline: text front end + engine + joining + WAV encoding), the RTF seen by an HTTP client
of a real server on a loopback port, and the HTTP overhead ratio (target ≤ 5 %).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.server import ServerProcess, write_configs  # noqa: E402

from megatts3_server.config import load_settings  # noqa: E402
from megatts3_server.engines.kokoro import KokoroEngine  # noqa: E402
from megatts3_server.ratelimit import unlimited  # noqa: E402
from megatts3_server.service.speech import SpeechRequest  # noqa: E402
from megatts3_server.service.wiring import build_services  # noqa: E402
from megatts3_server.tenancy import Caller  # noqa: E402

TEXTS = {
    "zh": "在一个阳光明媚的早晨，小明背着书包走进了学校，他看见同学们正在操场上做早操，老师微笑着向他挥手。",
    "en": "On a bright and sunny morning, the little boy walked into the school with his backpack, "
    "and he saw his classmates doing exercises on the playground while the teacher waved at him.",
}


def _median_time(function, runs: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _in_process_pipeline(settings, engine: KokoroEngine, text: str, runs: int) -> float:
    """Median seconds of the service layer without HTTP: front end, scheduler, engine, WAV encoding."""
    services = build_services(settings, engine)
    request = SpeechRequest(text, "voice_001")

    async def measure() -> float:
        async with services.running(writer=False):
            services.loader.wait()
            times = []
            for _ in range(runs + 1):
                started = time.perf_counter()
                await services.speech.speak(request, unlimited(), Caller())
                times.append(time.perf_counter() - started)
            return statistics.median(times[1:])

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--language", choices=sorted(TEXTS), default="zh")
    args = parser.parse_args()
    text = TEXTS[args.language]

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        # The synthesis cache is off: every run must really synthesize.
        model_config, api_config = write_configs(
            Path(scratch) / "server",
            storage=Path(scratch) / "storage",
            cache=cache,
            model={"cache": {"enabled": False}},
        )
        engine = KokoroEngine(cache_dir=cache)
        engine.load()
        voice = engine.builtin_context("voice_001")
        seconds = len(engine.synthesize(text, voice)) / engine.capabilities.sample_rate
        engine_only = _median_time(lambda: engine.synthesize(text, voice), args.runs)
        pipeline = _in_process_pipeline(load_settings(model_config, api_config), engine, text, args.runs)

        server = ServerProcess(model_config, api_config).start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=600) as client:
                body = {"text": text, "voice_id": "voice_001"}
                http = _median_time(
                    lambda: client.post("/api/v1/tts/synthesize", json=body).raise_for_status(), args.runs
                )
        finally:
            server.stop()

    print(f"text: {len(text)} characters ({args.language}), audio: {seconds:.2f} s, runs: {args.runs} (median)")
    print(f"engine only (one call, no front end):  {engine_only:.3f} s  RTF {engine_only / seconds:.3f}")
    print(f"in-process service (pieces, scheduler, WAV): {pipeline:.3f} s  RTF {pipeline / seconds:.3f}")
    print(f"HTTP API on loopback:                  {http:.3f} s  RTF {http / seconds:.3f}")
    print(f"HTTP overhead vs in-process pipeline:  {100 * (http / pipeline - 1):+.1f} %  (target <= 5 %)")


if __name__ == "__main__":
    main()
