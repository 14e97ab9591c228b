"""The synthesis planner alone (service/synthesis_plan.py): what a request is cut into, what makes two
requests the same cached audio, and what the response says about itself, with no server."""

from __future__ import annotations

import pytest

from megatts3_server.audio import AudioFormat
from megatts3_server.engines.base import SamplingOptions
from megatts3_server.errors import EmptyTextError
from megatts3_server.service.synthesis_plan import SynthesisPlan, plan_synthesis
from megatts3_server.service.synthesis_types import SynthesisParameters
from megatts3_server.service.text_check import check_text
from megatts3_server.text.lexicon import Lexicon
from tests.support.standins import ToneEngine

ENGINE = ToneEngine()
VOICE = ENGINE.builtin_context("tone_low")


def _plan(
    text: str,
    params: SynthesisParameters | None = None,
    *,
    fmt: AudioFormat = AudioFormat.WAV,
    tenant: str = "default",
    stream: bool = False,
    lexicon: Lexicon | None = None,
) -> SynthesisPlan:
    checked = check_text(text, lexicon, ENGINE.capabilities, max_length=1000, max_digits=100)
    return plan_synthesis(ENGINE, checked, VOICE, params or SynthesisParameters(), fmt, stream=stream, tenant=tenant)


def test_a_text_is_cut_into_its_sentences_in_order() -> None:
    plan = _plan("第一句话。第二句话！Third one?")
    assert [piece.text for piece in plan.pieces] == ["第一句话。", "第二句话！", "Third one?"]
    assert plan.description.characters == len("第一句话。第二句话！Third one?")


def test_the_same_request_is_the_same_key_and_what_changes_the_audio_changes_it() -> None:
    base = _plan("你好，世界。")
    assert _plan("你好，世界。").key == base.key
    changed = [
        _plan("你好，世界！"),
        _plan("你好，世界。", SynthesisParameters(speed=1.2)),
        _plan("你好，世界。", SynthesisParameters(pitch=1.1)),
        _plan("你好，世界。", fmt=AudioFormat.MP3),
        _plan("你好，世界。", tenant="key:alice"),
        _plan("你好，世界。", lexicon=Lexicon.parse({"世界": "shi4 jie4"})),
    ]
    assert len({plan.key for plan in changed} | {base.key}) == len(changed) + 1


def test_options_the_engine_ignores_do_not_split_the_cache() -> None:
    # The tone engine honours no sampling option: a seed or a guidance makes the same audio.
    seeded = SynthesisParameters(options=SamplingOptions(seed=7, p_w=2.0))
    assert _plan("你好。", seeded).key == _plan("你好。").key


def test_an_emotion_the_engine_lacks_is_reported_as_neutral() -> None:
    plan = _plan("你好。", SynthesisParameters(emotion="Happy"))
    assert (plan.description.emotion_requested, plan.description.emotion_applied) == ("Happy", "neutral")


def test_a_text_with_nothing_to_speak_is_refused() -> None:
    with pytest.raises(EmptyTextError):
        _plan("……！？")


def test_a_stream_starts_with_a_shorter_piece_than_a_whole_request() -> None:
    long = "这是一个很长的句子，" * 12 + "最后结束。"
    whole, streamed = _plan(long), _plan(long, stream=True)
    assert len(streamed.pieces[0].text) < len(whole.pieces[0].text)
    assert "".join(piece.text for piece in streamed.pieces) == "".join(piece.text for piece in whole.pieces)
    assert streamed.description == whole.description
