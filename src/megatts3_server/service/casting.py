"""Casting a screenplay: a voice for every character the request gives none (or only a hint) for.

Each such character gets a built-in voice of the right gender (the hint's, if any) from the voices the
engine recommends for the language of its lines (the hint's, else Chinese when its lines are mostly
Han, else English; Engine.casting_pool, best first), never one that speaks like a voice already given
or cast. Among those, greedy farthest-point selection over the engine's speaker embeddings
(Engine.speaker_embeddings) picks the voice least like every voice in the cast so far, so that
listeners tell the characters apart; without embeddings, the pool's order decides. The characters
with the most lines are cast first. When the pool has no voice left, any other built-in voice of the
right gender will do. The same request casts the same voices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from megatts3_server.engines.base import BuiltinVoice, Engine, VoiceContext
from megatts3_server.errors import InvalidRequestError, ServiceError
from megatts3_server.text.script import mostly_chinese


@dataclass(frozen=True)
class VoiceHint:
    """What a screenplay may say of a character's voice instead of naming one."""

    gender: str | None = None
    """"female" or "male"; None: either."""
    language: str | None = None
    """The language the voice should be native in ("zh", "en"...); None: that of the character's lines."""


@dataclass(frozen=True)
class CastVoice:
    voice_id: str
    cast: bool
    """True when the service chose the voice, False when the request gave it."""


def lines_language(texts: Sequence[str]) -> str:
    """The language a character's lines are in, as far as casting goes: "zh" when mostly Han, else "en"."""
    return "zh" if mostly_chinese(" ".join(texts)) else "en"


class Casting:
    """Casts voices from ``engine``'s built-in ones; ``context`` resolves a voice id the request gives
    (to keep voices that speak alike as it apart)."""

    def __init__(self, engine: Engine, context: Callable[[str], VoiceContext]) -> None:
        self._engine = engine
        self._context = context

    def cast(self, lines: Sequence[tuple[str, str]], voices: Mapping[str, str | VoiceHint]) -> dict[str, CastVoice]:
        """Every character of ``lines`` (name, text) with its voice, in the order they first speak:
        the voice ``voices`` names, or one cast (InvalidRequestError when none is left to cast)."""
        spoken: dict[str, list[str]] = {}
        for name, text in lines:
            spoken.setdefault(name, []).append(text)
        given = {name: voice for name, voice in voices.items() if name in spoken and isinstance(voice, str)}
        cast = {name: CastVoice(voice_id, cast=False) for name, voice_id in given.items()}
        roles = [name for name in spoken if name not in given]
        if roles:
            chosen = self._choose(roles, spoken, voices, list(given.values()))
            cast.update({name: CastVoice(voice_id, cast=True) for name, voice_id in chosen.items()})
        return {name: cast[name] for name in spoken}

    def _sounds(self, voice_id: str) -> set[str]:
        """The id and what it speaks with (Engine.voice_used): two ids that speak alike are one voice."""
        try:
            return {voice_id, self._engine.voice_used(self._context(voice_id))}
        except ServiceError:  # not a voice: the job's own check reports it
            return {voice_id}

    def _choose(
        self,
        roles: list[str],
        spoken: Mapping[str, list[str]],
        voices: Mapping[str, str | VoiceHint],
        given: list[str],
    ) -> dict[str, str]:
        builtin = self._engine.builtin_voices()
        embeddings = self._engine.speaker_embeddings()
        taken = set().union(*map(self._sounds, given))
        heard = [embeddings[voice_id] for voice_id in given if voice_id in embeddings]
        chosen: dict[str, str] = {}
        # Main characters first: they get the pool's best voices.
        for name in sorted(roles, key=lambda role: -len(spoken[role])):
            hint = voices.get(name)
            hint = hint if isinstance(hint, VoiceHint) else VoiceHint()
            language = hint.language or lines_language(spoken[name])
            pool = self._engine.casting_pool(language)
            if hint.language is not None and not pool:
                raise InvalidRequestError(
                    f"no voice speaks {hint.language!r}, the language asked for {name!r}",
                    code="cannot_cast",
                    details={"speaker": name, "language": hint.language},
                )
            candidates = self._free(pool, hint.gender, taken) or self._free(builtin, hint.gender, taken)
            # A region asked for ("en-GB") narrows the pool to it, where it has such voices left.
            candidates = [voice for voice in candidates if voice.language.lower() == language.lower()] or candidates
            if not candidates:
                kind = f"{hint.gender} voice" if hint.gender else "voice"
                raise InvalidRequestError(
                    f"no {kind} is left to cast {name!r}: every one is in the cast already; "
                    "give some characters a voice",
                    code="cannot_cast",
                    details={"speaker": name, "gender": hint.gender, "language": language},
                )
            voice = _farthest(candidates, embeddings, heard)
            chosen[name] = voice.id
            taken |= self._sounds(voice.id)
            if voice.id in embeddings:
                heard.append(embeddings[voice.id])
        return chosen

    def _free(self, voices: list[BuiltinVoice], gender: str | None, taken: set[str]) -> list[BuiltinVoice]:
        """``voices`` of ``gender`` (any, when None) that speak like no voice ``taken``."""
        matching = [voice for voice in voices if gender is None or voice.gender == gender]
        return [voice for voice in matching if not self._sounds(voice.id) & taken]


def _farthest(
    candidates: list[BuiltinVoice], embeddings: Mapping[str, np.ndarray], heard: list[np.ndarray]
) -> BuiltinVoice:
    """The candidate whose closest voice in the cast so far is farthest (cosine distance of unit
    embeddings); the first candidate when nothing can be compared. Ties go to the earlier one."""
    measured = [voice for voice in candidates if voice.id in embeddings]
    if not heard or not measured:
        return candidates[0]
    cast = np.stack(heard)
    return max(measured, key=lambda voice: float(np.min(1.0 - cast @ embeddings[voice.id])))
