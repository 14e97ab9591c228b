"""Every voice speaks every language in that language's prosody.

A Kokoro style row is 256 numbers: the first 128 carry the speaker's timbre, the last 128 the
prosody (rhythm, intonation, tones) of the language the speaker was recorded in. A Japanese or
English voice reading Mandarin with its own prosody gets the tones wrong; the same voice with the
prosody half of a native Mandarin speaker of its gender keeps its timbre (Resemblyzer similarity to
its own speech 0.9-0.99, against 0.72-0.81 between two different speakers) and is understood far
better. So each run of text in a language that is not the voice's own is spoken with the voice's
timbre half and a donor's prosody half, the donor chosen by bench/intelligibility.py; where that
measured no better, the voice keeps its own table (KEEP_OWN).

This holds for stock packs, blends (their recipe's language) and cloned voices (their start pack's
language: the cloning search moves only the timbre half).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from megatts3_server.engines.base import VoiceContext
from megatts3_server.engines.kokoro.catalogue import pack_info

TIMBRE = slice(0, 128)
PROSODY = slice(128, 256)

# (language of the run, gender of the voice) -> donor packs, best first (the first one installed is
# used). The last female Mandarin donor is a PyPI pack, for a service without the full pack set.
# bench/intelligibility.py, Whisper-base CER on 20 sentences of set A: af_heart speaking Chinese 0.176
# with its own table, 0.064 / 0.103 / 0.063 with zf_xiaoxiao's / zf_xiaoyi's / zf_xiaobei's prosody;
# jf_alpha 0.242 -> 0.117 / 0.129 / 0.147; jm_kumo 0.118 -> 0.095 / 0.077 / 0.121 with zm_yunxi's /
# zm_yunxia's / zm_yunjian's. English, WER on set en: zf_xiaoxiao 0.114 -> 0.063 with af_heart's,
# zm_yunxi 0.040 -> 0.020 with am_michael's (the two clearest English packs, 0.003 and 0.007).
DONORS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("zh", "female"): ("zf_xiaoxiao", "zf_xiaobei", "zf_xiaoyi", "jf_gongitsune"),
    ("zh", "male"): ("zm_yunxia", "zm_yunxi", "zm_yunjian"),
    ("en", "female"): ("af_heart", "af_bella"),
    ("en", "male"): ("am_michael", "am_fenrir"),
}
# (pack, language) -> the donor measured best for that pack where it is not its gender's first.
DONOR_FOR: Mapping[tuple[str, str], str] = {
    ("am_michael", "zh"): "zm_yunjian",  # 0.093, against 0.138 with zm_yunxia
}
# (pack, language) pairs where the donor's prosody measured no better than the pack's own table.
KEEP_OWN: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Identity:
    """The language family ("zh", "en", "ja"...) a voice was recorded in, and its gender."""

    language: str | None
    gender: str | None


def _pack_identity(name: str) -> Identity | None:
    try:
        info = pack_info(name)
    except KeyError:
        return None
    return Identity(info.family, info.gender)


def identity(voice: VoiceContext) -> Identity:
    """Whose prosody a voice has: its pack's, or what its meta says (a blend's recipe, a clone's start:
    a legacy clone names its start pack first in ``start``)."""
    meta = voice.meta
    if isinstance(meta.get("language"), str) and isinstance(meta.get("gender"), str):
        return Identity(meta["language"].split("-")[0], meta["gender"])
    for key in ("pack", "start"):
        label = meta.get(key)
        if isinstance(label, str):
            for name in label.replace("*", " ").replace("+", " ").split():
                if (found := _pack_identity(name)) is not None:
                    return found
    return Identity(None, None)


def transplant(own: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """``own``'s timbre half with ``donor``'s prosody half."""
    table = np.array(own, np.float32, copy=True)
    table[:, PROSODY] = donor[:, PROSODY]
    return table


class VoiceStyles:
    """The style table a voice speaks a run of each language with."""

    def __init__(self, packs: Mapping[str, np.ndarray]) -> None:
        self._packs = packs
        self._donors = {key: next((p for p in names if p in packs), None) for key, names in DONORS.items()}
        self._builtin: dict[tuple[str, str], np.ndarray] = {}

    def donor(self, voice: VoiceContext, language: str | None) -> str | None:
        """The pack whose prosody ``voice`` speaks a run in ``language`` with; None for its own table."""
        who = identity(voice)
        if language is None or who.language in (None, language) or who.gender is None:
            return None
        pack = voice.meta.get("pack") if "style" not in voice.arrays else None
        donor = DONOR_FOR.get((str(pack), language))
        if donor not in self._packs:
            donor = self._donors.get((language, who.gender))
        if donor is None or donor == pack or (pack, language) in KEEP_OWN:
            return None
        return donor

    def table(self, voice: VoiceContext, own: np.ndarray, donor: str | None) -> np.ndarray:
        """``own`` (the voice's table), or its transplant onto ``donor``'s prosody (kept for stock packs)."""
        if donor is None:
            return own
        pack = voice.meta.get("pack") if "style" not in voice.arrays else None
        if pack is None:
            return transplant(own, self._packs[donor])
        key = (str(pack), donor)
        if key not in self._builtin:
            self._builtin[key] = transplant(own, self._packs[donor])
        return self._builtin[key]
