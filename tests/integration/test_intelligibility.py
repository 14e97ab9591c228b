"""The speech is understood: Whisper transcribes it back with a low error rate.

The Chinese sentences are the first eight of bench/intelligibility.py's set A (novel and news
sentences: dialogue in quotes, a date, a time, a phone number, prices), not easy ones; the bounds
are what that benchmark measured on them (see MAX_CER), with a margin, so a regression of the front
end or the engine shows here.
"""

from __future__ import annotations

import difflib
import re

import cn2an
import httpx
import pytest
from bench.data.intelligibility_sentences import CHINESE_A

from megatts3_server.text import normalize
from tests.support.speech import cer_zh, chinese_chars, transcribe, wer_en

pytestmark = pytest.mark.slow

CHINESE = CHINESE_A[:8]
ENGLISH = [
    "The weather is lovely today, so we will take a walk in the park.",
    "Artificial intelligence is changing the way we live and work.",
    "Please remember to bring your umbrella because it might rain later.",
]
# bench/intelligibility.py measured these eight sentences at CER 0.069 for voice_001 (zf_xiaobei, native
# Mandarin), 0.055 for voice_005 (zm_yunxi), and 0.063 for af_heart, an English voice speaking Chinese
# with a native Mandarin speaker's prosody (0.218 with its own table: the bound catches the transplant
# failing). Engine and judge are deterministic on one machine: the margin is for another CPU's arithmetic.
MAX_CER = {"voice_001": 0.12, "voice_005": 0.11, "af_heart": 0.12}
MAX_WER = 0.15


def _speak(client: httpx.Client, text: str, voice: str) -> bytes:
    response = client.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": voice})
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("voice", sorted(MAX_CER))
def test_chinese_is_understood(client: httpx.Client, voice: str) -> None:
    rates = []
    for sentence in CHINESE:
        heard = transcribe(_speak(client, sentence, voice), "zh")
        # Both sides as the service reads them: "2024年" and "二零二四年" are the same words.
        rates.append(cer_zh(normalize(sentence), normalize(heard)))
        print(f"{voice} zh: {sentence} -> {heard} (CER {rates[-1]:.3f})")
    assert sum(rates) / len(rates) < MAX_CER[voice], rates


@pytest.mark.parametrize("voice", ["voice_001", "voice_005"])
def test_english_is_understood(client: httpx.Client, voice: str) -> None:
    rates = []
    for sentence in ENGLISH:
        heard = transcribe(_speak(client, sentence, voice), "en")
        rates.append(wer_en(sentence, heard))
        print(f"{voice} en: {sentence} -> {heard} (WER {rates[-1]:.3f})")
    assert sum(rates) / len(rates) < MAX_WER, rates


def test_numbers_and_dates_are_read_out_in_chinese(client: httpx.Client) -> None:
    text = "2024年3月5日，气温上升了3.5%。"
    heard = cn2an.transform(transcribe(_speak(client, text, "voice_005"), "zh"), "an2cn")
    expected = "二零二四年三月五日，气温上升了百分之三点五。"
    print(f"numbers zh: {text} -> {heard}")
    assert cer_zh(expected, heard) < 0.2


def test_numbers_and_money_are_read_out_in_english(client: httpx.Client) -> None:
    heard = transcribe(_speak(client, "The ticket costs $12.50 and the discount is 3.5%.", "voice_005"), "en")
    print(f"numbers en: -> {heard}")
    lowered = heard.lower()
    assert "12.50" in lowered or ("twelve" in lowered and "fifty" in lowered)
    assert "3.5" in lowered or "three point five" in lowered


# Chinese sentences with English words in them, as people write them. Whisper transcribing in Chinese
# writes an English word it hears in Latin letters; on code-switched speech it misses some even when they
# are spoken well (bench/intelligibility.py's mixed set: a word cut out and transcribed alone is heard
# more often), so the bound is on the words heard across sentences and voices, not on each word.
MIXED = [
    ("我今天学习了machine learning，感觉非常有意思。", ("machine", "learning")),
    ("这个project的deadline是下周五。", ("project", "deadline")),
    ("我们明天去看Avatar，你要一起来吗？", ("avatar",)),
    ("请把这份report发给我的manager。", ("report", "manager")),
]


def _chinese_recall(reference: str, heard: str) -> float:
    """The share of the reference's Chinese characters heard, in order (extra words heard cost nothing)."""
    expected, got = chinese_chars(reference), chinese_chars(heard)
    matched = sum(block.size for block in difflib.SequenceMatcher(None, expected, got).get_matching_blocks())
    return matched / len(expected)


def test_mixed_chinese_english_sentences_speak_both_languages(client: httpx.Client) -> None:
    heard_words, words, recalls = 0, 0, []
    for voice in ("voice_002", "voice_005"):
        for sentence, english in MIXED:
            heard = transcribe(_speak(client, sentence, voice), "zh")
            latin = set(re.findall(r"[a-z]+", heard.lower()))
            found = [word for word in english if word in latin]
            print(f"mixed {voice}: {sentence} -> {heard} (English heard: {found})")
            heard_words, words = heard_words + len(found), words + len(english)
            recalls.append(_chinese_recall(sentence, heard))
    # Measured: 8 of 14 words heard, Chinese recall 0.93 on average; a voice that spelled the English
    # letter by letter, read it as pinyin or dropped it would be heard in none.
    assert heard_words >= 6, (heard_words, words)
    assert sum(recalls) / len(recalls) >= 0.8, recalls
