"""The speech is understood: Whisper transcribes it back with a low error rate.

The Chinese sentences are the first eight of bench/intelligibility.py's set A (novel and news
sentences: dialogue in quotes, a date, a time, a phone number, prices), not easy ones; the bounds
are what that benchmark measured on them (see MAX_CER), with a margin, so a regression of the front
end or the engine shows here.
"""

from __future__ import annotations

import cn2an
import httpx
import pytest
from bench.data.intelligibility_sentences import CHINESE_A

from megatts3_server.text import normalize
from tests.support.speech import cer_zh, transcribe, wer_en

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


def test_mixed_chinese_english_sentence_speaks_both_parts(client: httpx.Client) -> None:
    # voice_002 (zm_yunjian) is heard best in mixed sentences (bench/intelligibility.py's mixed set: the
    # English words within the Chinese heard in 10 of 15, by a judge transcribing in Chinese).
    audio = _speak(client, "我今天学习了machine learning，感觉非常有意思。", "voice_002")
    chinese = transcribe(audio, "zh")
    print(f"mixed: -> {chinese}")
    assert cer_zh("我今天学习了感觉非常有意思", chinese) < 0.3
    heard_latin = "".join(ch for ch in chinese.lower() if ch.isascii() and ch.isalpha())
    # Whisper in Chinese mode writes the English words in Latin letters (or a close transliteration).
    assert "machine" in heard_latin or "learning" in heard_latin or "机器学习" in chinese
