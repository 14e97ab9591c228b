"""How well a listener (Whisper-base, the suite's judge) understands the embedded engine's speech.

    python bench/intelligibility.py [--voices voice_001 af_heart "af_bella(2)+af_sky(1)" | numbered | all
                                              | language:zh | language:en ...]
                                    [--sets zh A, zh B, en, mixed] [--limit N] [--pick "zh A:8,9" ...]
                                    [--worst 5]
                                    [--g2p sandhi|plain] [--speed 1.0] [--prosody transplant|own]
                                    [--json out.json]

Speaks every sentence of bench/data/intelligibility_sentences.py (60 Chinese in two halves A and B,
30 English, 15 mixed) in each voice asked for (any voice id the service speaks: a numbered voice, a
Kokoro pack, a recipe; ``numbered``, ``all`` or ``language:<code>`` for groups of built-in voices)
through the service's own pipeline (normalization, splitting, the engine; in process, cache off),
transcribes it back and prints per voice:
- Chinese CER over Han characters, for half A and half B (a choice tuned on one is confirmed on the other);
- toneless-pinyin error, for half A and half B: the syllable error rate of the transcript's pinyin
  against the text's, both read as the service reads Chinese (homophones are not errors here: what
  is left is what the listener could not make out, the judge's choice among same-sounding
  characters taken out of the CER);
- tone error: among the syllables the transcript got right without tones, the share whose tone differs;
- English WER, and for mixed sentences CER over their Chinese and WER over their English words;
- the worst sentences with what was heard.
Both the text and the transcript are normalized the way the service normalizes text (numbers spelled
out), so "2024年" and "二零二四年" are the same, and characters no listener can tell apart by ear (他/她/它,
and 著 that Whisper writes for 着) count as one (tests/support/speech.py). A figure, not a test: the
regression guard is tests/integration/test_intelligibility.py. ``--g2p plain`` speaks without tone
sandhi (every syllable at its dictionary tone, misaki's own Chinese G2P), to measure what sandhi
moves; ``--prosody own`` speaks every run with the voice's own table instead of a native donor's
prosody for runs in other languages (engines/kokoro/prosody.py), to measure what the transplant
moves.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import jiwer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.speech import chinese_chars, transcribe  # noqa: E402

from bench.data.intelligibility_sentences import CHINESE_A, CHINESE_B, ENGLISH, MIXED  # noqa: E402
from megatts3_server.config import load_settings  # noqa: E402
from megatts3_server.engines.kokoro.mandarin import MandarinG2P  # noqa: E402
from megatts3_server.engines.kokoro.phonemes import Phonemizer  # noqa: E402
from megatts3_server.engines.kokoro.prosody import VoiceStyles  # noqa: E402
from megatts3_server.ratelimit import unlimited  # noqa: E402
from megatts3_server.service.speech import SpeechRequest  # noqa: E402
from megatts3_server.service.synthesis import SynthesisParameters  # noqa: E402
from megatts3_server.service.wiring import build_services  # noqa: E402
from megatts3_server.tenancy import Caller  # noqa: E402
from megatts3_server.text import normalize  # noqa: E402

VOICES = ["voice_001", "voice_002", "voice_003", "voice_004", "voice_005"]


def _expand(asked: list[str], builtin: list) -> list[str]:
    """Voice ids, with the groups ``numbered``, ``all`` and ``language:<code>`` (``zh``, ``en``...:
    the built-in voices of that language, a family matching its regions) written out."""
    voices: list[str] = []
    for item in asked:
        if item == "numbered":
            voices += [voice.id for voice in builtin if voice.id.startswith("voice_")]
        elif item == "all":
            voices += [voice.id for voice in builtin if not voice.id.startswith("voice_")]
        elif item.startswith("language:"):
            code = item.split(":", 1)[1]
            voices += [
                voice.id
                for voice in builtin
                if not voice.id.startswith("voice_") and voice.language.split("-")[0] == code.split("-")[0]
            ]
        else:
            voices.append(item)
    return list(dict.fromkeys(voices))


def _han(text: str) -> str:
    return chinese_chars(normalize(text))


def _latin_words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", normalize(text).lower()))


@functools.cache
def _reader() -> MandarinG2P:
    return MandarinG2P()


def _syllables(han: str) -> list[str]:
    # Both sides read as the service reads a sentence (words, polyphones in context, sandhi): a bare
    # dictionary reading would call the right 地 (de) or 还 (huán) a mishearing of dì or hái.
    return _reader().pinyin(han)


@dataclass
class Heard:
    sentence: str
    transcript: str
    cer: float = 0.0
    wer: float = 0.0
    pinyin_error: float = 0.0
    tones_compared: int = 0
    tones_wrong: int = 0


def _judge_chinese(sentence: str, transcript: str) -> Heard:
    reference, hypothesis = _han(sentence), _han(transcript)
    heard = Heard(sentence, transcript, cer=jiwer.cer(reference, hypothesis or "∅"))
    ref_syllables, hyp_syllables = _syllables(reference), _syllables(hypothesis)
    ref_bare = [s.rstrip("012345") for s in ref_syllables]
    hyp_bare = [s.rstrip("012345") for s in hyp_syllables]
    heard.pinyin_error = jiwer.wer(" ".join(ref_bare), " ".join(hyp_bare) or "∅")
    for block in SequenceMatcher(None, ref_bare, hyp_bare, autojunk=False).get_matching_blocks():
        for offset in range(block.size):
            heard.tones_compared += 1
            heard.tones_wrong += ref_syllables[block.a + offset] != hyp_syllables[block.b + offset]
    return heard


def _judge_english(sentence: str, transcript: str) -> Heard:
    return Heard(sentence, transcript, wer=jiwer.wer(_latin_words(sentence), _latin_words(transcript) or "∅"))


def _judge_mixed(sentence: str, transcript: str) -> Heard:
    heard = _judge_chinese(sentence, transcript)
    heard.wer = jiwer.wer(_latin_words(sentence), _latin_words(transcript) or "∅")
    return heard


async def _speak_all(services, voice: str, sentences: list[str], speed: float) -> list[bytes]:
    spoken = []
    for sentence in sentences:
        request = SpeechRequest(sentence, voice, SynthesisParameters(speed=speed))
        result = await services.speech.speak(request, unlimited(), Caller())
        spoken.append(result.audio)
    return spoken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", nargs="+", default=VOICES)
    parser.add_argument("--limit", type=int, default=0, help="at most N sentences of each set (0: all)")
    parser.add_argument(
        "--pick",
        nargs="+",
        default=[],
        metavar="SET:I,J",
        help="only these sentences (0-based) of a set, e.g. 'zh A:8,9' 'zh B:20': re-measure what a change touched",
    )
    parser.add_argument("--worst", type=int, default=5)
    parser.add_argument("--sets", nargs="+", default=["zh A", "zh B", "en", "mixed"], metavar="SET")
    parser.add_argument("--g2p", choices=["sandhi", "plain"], default="sandhi")
    parser.add_argument("--prosody", choices=["transplant", "own"], default="transplant")
    parser.add_argument("--speed", type=float, default=1.0, help="the speaking rate of every request")
    parser.add_argument("--json", type=Path, help="write every sentence's figures here")
    args = parser.parse_args()

    def cut(sentences: list[str]) -> list[str]:
        return sentences[: args.limit] if args.limit else sentences

    every = {"zh A": CHINESE_A, "zh B": CHINESE_B, "en": ENGLISH, "mixed": MIXED}
    sets = {name: cut(every[name]) if name in args.sets else [] for name in every}
    for pick in args.pick:
        name, indices = pick.rsplit(":", 1)
        sets[name] = [every[name][int(index)] for index in indices.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.yaml"
        empty.write_text("{}\n")
        settings = load_settings(
            empty,
            empty,
            env={},
            overrides={
                "model": {"cache": {"enabled": False}, "cloning": {"budget_seconds": 0, "one_shot_budget_seconds": 0}},
                "api": {"monitoring": {"enabled": False}},
                "logging": {"file": None},
                "storage": {
                    "voice_samples_dir": f"{scratch}/voices",
                    "cache_dir": str(REPO / "build" / "bench-cache"),
                    "temp_dir": f"{scratch}/tmp",
                    "jobs_dir": f"{scratch}/jobs",
                },
            },
        )
        services = build_services(settings)

        async def run() -> dict[str, dict[str, list[Heard]]]:
            results: dict[str, dict[str, list[Heard]]] = {}
            async with services.running(writer=False):
                services.loader.wait()
                services.loader.require_ready()
                if args.g2p == "plain":  # the embedded engine's G2P swapped for one without tone sandhi
                    services.engine._phonemize = Phonemizer(tone_sandhi=False)  # type: ignore[attr-defined]
                if args.prosody == "own":  # no donors: every run is spoken with the voice's own table
                    services.engine._library.styles = VoiceStyles({})  # type: ignore[attr-defined]
                for voice in _expand(args.voices, services.engine.builtin_voices()):
                    results[voice] = {}
                    for name, sentences in sets.items():
                        audio = await _speak_all(services, voice, sentences, args.speed)
                        language = "en" if name == "en" else "zh"
                        judge = {"en": _judge_english, "mixed": _judge_mixed}.get(name, _judge_chinese)
                        results[voice][name] = [
                            judge(sentence, transcribe(clip, language))
                            for sentence, clip in zip(sentences, audio, strict=True)
                        ]
                    if args.json:  # kept as it goes: a long run stopped half way keeps what it measured
                        _write_json(args.json, results)
                    print(f"measured {voice}", file=sys.stderr, flush=True)
            return results

        results = asyncio.run(run())
    _report(results, sets, args.worst)


def _write_json(path: Path, results: dict[str, dict[str, list[Heard]]]) -> None:
    every_sentence = {
        voice: {name: [dataclasses.asdict(heard) for heard in heard_list] for name, heard_list in by_set.items()}
        for voice, by_set in results.items()
    }
    path.write_text(json.dumps(every_sentence, ensure_ascii=False, indent=1))


def _mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def _report(results: dict[str, dict[str, list[Heard]]], sets: dict[str, list[str]], worst: int) -> None:
    counts = ", ".join(f"{name} {len(sentences)}" for name, sentences in sets.items())
    print(f"sentences: {counts}; judge: Whisper-base (int8, beam 1)")
    width = max([10, *(len(voice) for voice in results)])
    print(
        f"{'voice':<{width}}  zh CER A  zh CER B  zh max  toneless A  toneless B  tone err"
        "  en WER  mixed CER  mixed WER"
    )
    for voice, by_set in results.items():
        chinese = by_set["zh A"] + by_set["zh B"]
        tones = sum(h.tones_wrong for h in chinese) / max(1, sum(h.tones_compared for h in chinese))
        highest = max((h.cer for h in chinese), default=float("nan"))
        print(
            f"{voice:<{width}}  {_mean([h.cer for h in by_set['zh A']]):8.3f}"
            f"  {_mean([h.cer for h in by_set['zh B']]):8.3f}  {highest:6.2f}"
            f"  {_mean([h.pinyin_error for h in by_set['zh A']]):10.3f}"
            f"  {_mean([h.pinyin_error for h in by_set['zh B']]):10.3f}  {tones:8.3f}"
            f"  {_mean([h.wer for h in by_set['en']]):6.3f}  {_mean([h.cer for h in by_set['mixed']]):9.3f}"
            f"  {_mean([h.wer for h in by_set['mixed']]):9.3f}"
        )
    for voice, by_set in results.items():
        chinese = by_set["zh A"] + by_set["zh B"] + by_set["mixed"]
        print(f"\nworst Chinese sentences, {voice}:")
        for heard in sorted(chinese, key=lambda h: h.cer, reverse=True)[:worst]:
            print(f"  CER {heard.cer:.2f}  {heard.sentence}  ->  {heard.transcript}")


if __name__ == "__main__":
    main()
