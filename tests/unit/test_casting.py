"""Casting a screenplay: distinct voices of the right gender and language, as far apart as the speaker
embeddings tell, never a voice given to another character (nor one that speaks like it), the same
cast for the same request; and the job reports the cast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megatts3_server.engines.base import BuiltinVoice, VoiceContext
from megatts3_server.errors import InvalidRequestError, VoiceNotFoundError
from megatts3_server.service.casting import Casting, CastVoice, VoiceHint
from tests.support.standins import ToneEngine, finished_job, tone_app, tone_settings

# id, language, gender, a direction in a 2-d "speaker space" (degrees): near angles sound alike.
VOICES = [
    ("zf_a", "zh", "female", 0),
    ("zf_b", "zh", "female", 10),
    ("zf_c", "zh", "female", 90),
    ("zm_a", "zh", "male", 180),
    ("zm_b", "zh", "male", 200),
    ("af_a", "en-US", "female", 45),
    ("am_a", "en-US", "male", 270),
    ("bm_a", "en-GB", "male", 300),
]


class CastingEngine(ToneEngine):
    """Eight built-in voices, voice_001 an alias of zf_a (it speaks with that pack), with embeddings."""

    def __init__(self, *, embeddings: bool = True) -> None:
        super().__init__()
        self._embeddings = embeddings

    def builtin_voices(self) -> list[BuiltinVoice]:
        numbered = [BuiltinVoice("voice_001", "zf_a", "", "zh", "female")]
        return numbered + [BuiltinVoice(vid, vid, "", language, gender) for vid, language, gender, _ in VOICES]

    def builtin_context(self, voice_id: str) -> VoiceContext:
        pack = next(voice.name for voice in self.builtin_voices() if voice.id == voice_id)
        return VoiceContext(voice_id, meta={"pack": pack, "pitch": 200.0})

    def voice_used(self, voice: VoiceContext) -> str:
        return str(voice.meta.get("pack", voice.voice_id))

    def speaker_embeddings(self) -> dict[str, np.ndarray]:
        if not self._embeddings:
            return {}
        angles = {vid: np.radians(angle) for vid, _, _, angle in VOICES}
        angles["voice_001"] = angles["zf_a"]
        return {vid: np.array([np.cos(angle), np.sin(angle)]) for vid, angle in angles.items()}

    def casting_pool(self, language: str) -> list[BuiltinVoice]:
        family = language.split("-")[0]
        return [v for v in self.builtin_voices()[1:] if v.language.split("-")[0] == family]


def _context(engine: CastingEngine):
    def context(voice_id: str) -> VoiceContext:
        if voice_id == "narrator":  # a stored (uploaded) voice
            return VoiceContext("narrator", meta={"pitch": 250.0}, arrays={"style": np.zeros(1)})
        try:
            return engine.builtin_context(voice_id)
        except StopIteration:
            raise VoiceNotFoundError(voice_id) from None

    return context


def _cast(lines: list[tuple[str, str]], voices: dict, *, embeddings: bool = True) -> dict[str, CastVoice]:
    engine = CastingEngine(embeddings=embeddings)
    return Casting(engine, _context(engine)).cast(lines, voices)


CHINESE = [("甲", "你好，今天天气很好。"), ("乙", "是啊，我们出去走走吧。"), ("丙", "好的。"), ("甲", "走吧。")]


def test_every_character_gets_a_distinct_voice_in_the_language_of_its_lines() -> None:
    cast = _cast([*CHINESE, ("Tom", "Hello there, how are you?")], {})
    assert list(cast) == ["甲", "乙", "丙", "Tom"]
    assert all(voice.cast for voice in cast.values())
    ids = [voice.voice_id for voice in cast.values()]
    assert len(set(ids)) == 4
    assert all(voice_id.startswith("z") for voice_id in ids[:3]) and ids[3].startswith(("a", "b"))


def test_voices_are_as_far_apart_as_the_embeddings_tell_and_the_cast_is_the_same_each_time() -> None:
    cast = _cast(CHINESE, {})
    # 甲 (two lines) first: the pool's best; then the farthest from it (zm_a, 180°), then from both (zc, 90°).
    assert [cast[name].voice_id for name in ("甲", "乙", "丙")] == ["zf_a", "zm_a", "zf_c"]
    assert _cast(CHINESE, {}) == cast
    # Without embeddings, the pool's order decides.
    plain = _cast(CHINESE, {}, embeddings=False)
    assert [plain[name].voice_id for name in ("甲", "乙", "丙")] == ["zf_a", "zf_b", "zf_c"]


def test_hints_are_honoured() -> None:
    cast = _cast(CHINESE, {"乙": VoiceHint(gender="female"), "丙": VoiceHint(gender="male", language="en")})
    assert cast["乙"].voice_id in {"zf_b", "zf_c"} and cast["乙"].cast
    assert cast["丙"].voice_id in {"am_a", "bm_a"}
    assert _cast([("甲", "Hi."), ("乙", "Hello.")], {"乙": VoiceHint(language="en-GB")})["乙"].voice_id == "bm_a"


def test_a_voice_given_to_a_character_is_never_cast_again_nor_one_that_speaks_like_it() -> None:
    lines = [*CHINESE, ("丁", "嗯。"), ("戊", "哦。")]
    female = VoiceHint(gender="female")
    # voice_001 speaks with zf_a: zf_a is taken as well; the casts keep away from zf_a's direction.
    cast = _cast(lines, {"甲": "voice_001", "乙": female, "丙": female, "丁": "narrator", "戊": female})
    assert (cast["甲"], cast["丁"]) == (CastVoice("voice_001", False), CastVoice("narrator", False))
    picked = [cast[name].voice_id for name in ("乙", "丙", "戊")]
    assert picked == ["zf_c", "zf_b", "af_a"]  # the farthest from zf_a first; once Chinese has none left, any female
    assert "zf_a" not in picked and "voice_001" not in picked


def test_when_no_voice_is_left_the_job_is_refused_naming_the_character() -> None:
    male = VoiceHint(gender="male")
    lines = [(name, "你好。") for name in "甲乙丙丁"]
    cast = _cast(lines[:3], {"甲": male, "乙": male, "丙": male})  # two zh males, then the farthest other male
    assert [voice.voice_id for voice in cast.values()] == ["zm_a", "zm_b", "bm_a"]
    with pytest.raises(InvalidRequestError) as caught:
        _cast([*lines, ("戊", "好。")], dict.fromkeys("甲乙丙丁戊", male))
    assert caught.value.code == "cannot_cast" and caught.value.details["speaker"] == "戊"
    with pytest.raises(InvalidRequestError, match="no voice speaks 'xx'"):
        _cast(lines[:1], {"甲": VoiceHint(language="xx")})


def test_a_screenplay_job_reports_its_cast(tmp_path: Path) -> None:
    screenplay = "旁白：夜深了。\n林清雅：你还没睡？\nTom: Not yet.\n旁白：风停了。"
    voices = {"旁白": "zf_b", "林清雅": {"gender": "female"}, "Tom": None}
    with tone_app(tone_settings(tmp_path, default_voice="zf_a"), engine=CastingEngine()) as (http, _):
        created = http.post("/api/v1/tts/jobs", json={"screenplay": screenplay, "voices": voices})
        assert created.status_code == 202, created.text
        expected = {
            "旁白": {"voice_id": "zf_b", "cast": False},
            "林清雅": {"voice_id": "zf_c", "cast": True},  # female, Chinese, the farthest from zf_b
            "Tom": {"voice_id": "am_a", "cast": True},  # English, the farthest from both
        }
        assert created.json()["cast"] == expected
        job = finished_job(http, created.json()["id"])
        assert job["status"] == "done" and job["cast"] == expected
        assert {segment["speaker"]: segment["voice_id"] for segment in job["segments"]} == {
            name: voice["voice_id"] for name, voice in expected.items()
        }
        # No voices at all: every character is cast.
        free = http.post("/api/v1/tts/jobs", json={"screenplay": screenplay})
        assert free.status_code == 202 and all(voice["cast"] for voice in free.json()["cast"].values())
