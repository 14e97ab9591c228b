"""Where a serving process's resident memory goes at start: RSS after each stage of the load.

    python bench/start_rss.py [--model-cache build/bench-cache] [--json results.json]

Runs in a fresh interpreter (so nothing else is resident) the stages a ``megatts3-server serve`` goes
through on the embedded engine, in its order, and prints the RSS (/proc/self/status VmRSS) after each
and what that stage added:

- the interpreter; the web stack and the service's own modules (FastAPI, pydantic, uvicorn, numpy);
- onnxruntime and the inference session over the int8 model (its weights, prepacked);
- the voice packs' style tables (54 x 510 x 256 float32 with the full set installed);
- the Mandarin front end's dictionaries (jieba's word list, pypinyin's readings, misaki's tables) and
  espeak-ng, loaded by the first sentence of each language;
- the speaker encoder (Resemblyzer, with torch) and the stock voices' measured features;
- the cloning search's warm-up (what load() prepares so that no enrollment's budget pays for it);
- the first synthesis of a long sentence (onnxruntime's arena grows to the largest input seen).

A serving process is this plus the HTTP server's buffers, the audio cache (bounded by
model.cache.max_size) and the voice-array cache (bounded by its entry count): bench/memory.py measures
that whole under a mixed load.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "megatts3-bench-model-cache",
        help="where the joined ONNX model (and the voice packs, if installed there) are kept",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()

    rows: list[dict[str, object]] = []
    last = [rss_mb()]

    def record(name: str, seconds: float) -> None:
        now = rss_mb()
        rows.append({"stage": name, "rss_mb": round(now, 1), "added_mb": round(now - last[0], 1),
                     "seconds": round(seconds, 2)})
        print(f"{name:<52} {now:8.1f} MB  {now - last[0]:+8.1f} MB  {seconds:6.2f} s", flush=True)
        last[0] = now

    def measured(owner: object, attribute: str, name: str) -> None:
        """Wrap ``owner.attribute`` so that its first call is a stage of its own."""
        original = getattr(owner, attribute)
        done = [False]

        def wrapper(*call_args: object, **call_kwargs: object) -> object:
            if done[0]:
                return original(*call_args, **call_kwargs)
            done[0] = True
            record("  (before) " + name, 0.0)
            started = time.perf_counter()
            result = original(*call_args, **call_kwargs)
            record(name, time.perf_counter() - started)
            return result

        setattr(owner, attribute, wrapper)

    from megatts3_server.memory import configure_allocator

    configure_allocator()  # as the app does before any engine loads
    record("interpreter", 0.0)
    started = time.perf_counter()
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401

    import megatts3_server.app  # noqa: F401
    from megatts3_server.engines.kokoro import engine, phonemes, speaker, stock_voices, voice_library

    record("web stack + the service's modules", time.perf_counter() - started)

    measured(engine.KokoroEngine, "_session_with", "onnxruntime session over the int8 model")
    measured(voice_library.VoiceLibrary, "load", "voice packs' style tables")
    measured(phonemes.Phonemizer, "__init__", "phonemizer (espeak-ng)")
    measured(speaker.SpeakerJudge, "_load", "speaker encoder (Resemblyzer + torch)")
    measured(stock_voices.StockMeasures, "features", "stock voices' features")
    measured(speaker.SpeakerJudge, "warm", "speaker encoder's first call (librosa, torch kernels)")
    measured(stock_voices.StockMeasures, "check_speech", "stock packs' check speech (kept for the search)")

    kokoro = engine.KokoroEngine(args.model_cache, threads=args.threads, warm_cloning=True)
    started = time.perf_counter()
    kokoro.load()
    record(f"load() done ({len(kokoro.packs)} packs)", time.perf_counter() - started)

    started = time.perf_counter()
    kokoro.phonemes("他说今天的天气很好，我们去公园散步吧。")
    kokoro.phonemes("The weather is fine today, so we walk in the park.")
    record("first Chinese and English sentences (dictionaries)", time.perf_counter() - started)

    voice = kokoro.builtin_context(kokoro.builtin_voices()[0].id)
    text = "从前有一座山，山里有一座庙，庙里有一个老和尚在给小和尚讲故事，讲的是什么呢？"
    started = time.perf_counter()
    kokoro.synthesize(text * 2, voice)
    record("first long synthesis (arena growth)", time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(3):
        kokoro.synthesize(text * 2, voice)
    record("three more of the same (steady state)", time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
