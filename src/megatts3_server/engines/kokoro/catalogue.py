"""The Kokoro voice catalogue as data: every pack's language and gender, the numbered voices, aliases.

Kokoro v1.0 names its 54 packs ``<language><gender>_<name>``: ``zf_xiaoxiao`` is a Mandarin female
voice, ``am_onyx`` an American English male one. Every pack present is a built-in voice under that
name. ``voice_001`` … ``voice_005`` (the integration guide's ids, asked for Chinese) are the best
native Mandarin packs by bench/intelligibility.py; where the full pack set is not installed they fall
back to the five packs that ship with the model on PyPI (Japanese speakers).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from megatts3_server.engines.base import BuiltinVoice

# The first letter of a pack's name: the language its speaker was recorded in (BCP 47).
LANGUAGES: dict[str, str] = {
    "a": "en-US",
    "b": "en-GB",
    "z": "zh",
    "j": "ja",
    "e": "es",
    "f": "fr",
    "h": "hi",
    "i": "it",
    "p": "pt-BR",
}
GENDERS: dict[str, str] = {"f": "female", "m": "male"}
LANGUAGE_NAMES: dict[str, str] = {
    "en-US": "American English",
    "en-GB": "British English",
    "zh": "Mandarin",
    "ja": "Japanese",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "pt-BR": "Brazilian Portuguese",
}


@dataclass(frozen=True)
class PackInfo:
    name: str
    language: str
    gender: str

    @property
    def family(self) -> str:
        """The language without its region ("en" for en-US and en-GB): what a text run is matched on."""
        return self.language.split("-")[0]


def pack_info(name: str) -> PackInfo:
    """Language and gender from a Kokoro pack name (KeyError when the name does not follow the scheme)."""
    if len(name) < 4 or name[2] != "_" or name[0] not in LANGUAGES or name[1] not in GENDERS:
        raise KeyError(name)
    return PackInfo(name, LANGUAGES[name[0]], GENDERS[name[1]])


# Packs listeners understand poorly even in their own language (bench/intelligibility.py: zf_xiaoni's
# Chinese CER is about 0.48, the other Mandarin packs' 0.07-0.15): listed, but never a cloning start
# nor cast for a script.
UNCLEAR_PACKS: frozenset[str] = frozenset({"zf_xiaoni"})

# voice_00N -> the packs it may be, best first: the five native Mandarin packs understood best by
# bench/intelligibility.py (Whisper-base CER on sets A / B: zm_yunjian 0.060 / 0.099, zm_yunxia
# 0.063 / 0.106, zf_xiaobei 0.065 / 0.113, zm_yunxi 0.060 / 0.119, zf_xiaoyi 0.075 / 0.115; then
# zf_xiaoxiao 0.068 / 0.123, zm_yunyang 0.080 / 0.131), a female one first; else (only the PyPI
# packs installed) one of those five Japanese packs each, so that they stay five distinct voices (the
# PyPI set has one male voice: voice_004 and voice_005 are female there).
NUMBERED_VOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("voice_001", ("zf_xiaobei", "jf_gongitsune")),
    ("voice_002", ("zm_yunjian", "jm_kumo")),
    ("voice_003", ("zf_xiaoyi", "jf_alpha")),
    ("voice_004", ("zm_yunxia", "jf_nezumi")),
    ("voice_005", ("zm_yunxi", "jf_tebukuro")),
)
# The voice of a request that names none (unless model.default_voice names another).
DEFAULT_VOICE = "voice_001"

# OpenAI's voice names -> Kokoro's own pack of that name where one exists, else a pack of the gender
# OpenAI's voice has.
OPENAI_ALIASES: dict[str, tuple[str, ...]] = {
    "alloy": ("af_alloy", "voice_001"),
    "echo": ("am_echo", "voice_002"),
    "fable": ("bm_fable", "voice_004"),
    "nova": ("af_nova", "voice_003"),
    "onyx": ("am_onyx", "voice_005"),
    "shimmer": ("af_bella", "voice_001"),
    "coral": ("af_heart", "voice_003"),
    "sage": ("af_sarah", "voice_001"),
    "ballad": ("bm_lewis", "voice_002"),
    "ash": ("am_michael", "voice_004"),
    "verse": ("am_adam", "voice_005"),
    "marin": ("af_jessica", "voice_003"),
    "cedar": ("bm_george", "voice_002"),
}


def numbered_packs(present: Collection[str]) -> dict[str, str]:
    """voice_00N -> the pack it speaks with, among the packs ``present``."""
    chosen = {}
    for voice_id, candidates in NUMBERED_VOICES:
        pack = next((name for name in candidates if name in present), None)
        if pack is not None:
            chosen[voice_id] = pack
    return chosen


def openai_aliases(present: Collection[str]) -> dict[str, str]:
    """OpenAI voice name -> the built-in voice id it speaks with, among the packs ``present``."""
    numbered = numbered_packs(present)
    aliases = {}
    for alias, candidates in OPENAI_ALIASES.items():
        target = next((name for name in candidates if name in present or name in numbered), None)
        if target is not None:
            aliases[alias] = target
    return aliases


def builtin_voices(present: Collection[str]) -> list[BuiltinVoice]:
    """The built-in voices over the packs ``present``: voice_001 … voice_005 first (named by the pack
    they speak with), then every pack under its own name, by name (a name outside Kokoro's scheme is
    skipped: nothing says its language)."""
    numbered = [
        _voice(voice_id, pack, f"the integration guide's {voice_id}: Kokoro's {pack}")
        for voice_id, pack in numbered_packs(present).items()
    ]
    named = []
    for pack in sorted(present):
        try:
            named.append(_voice(pack, pack, f"Kokoro's {pack}"))
        except KeyError:
            continue
    return numbered + named


def _voice(voice_id: str, pack: str, what: str) -> BuiltinVoice:
    info = pack_info(pack)
    return BuiltinVoice(
        id=voice_id,
        name=pack,
        description=f"{what}, a {LANGUAGE_NAMES[info.language]} {info.gender} voice",
        language=info.language,
        gender=info.gender,
    )
