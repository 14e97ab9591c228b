"""Blend voices: a recipe of built-in voices (``af_bella(2)+af_sky(1)``, Engine.recipe_context) kept
under an id of its own (``POST /api/v1/voices``).

A blend has no recording: its record holds the normalized recipe (and the language and gender the
engine gave it) and an empty reference file, so both stores keep it as any other voice, and
ownership, listing, migration and deletion apply to it unchanged. Its style is blended anew from the
engine's packs whenever it speaks, so its cache version follows the recipe and the packs' revision.
"""

from __future__ import annotations

import dataclasses
import hashlib

from megatts3_server.engines.base import Engine, VoiceContext
from megatts3_server.voices import StoredVoice, now_iso

BLEND = "blend"
"""The type of a stored blend voice."""


def blend_record(engine: Engine, voice_id: str, name: str, description: str, recipe: str) -> StoredVoice:
    """The record of a new blend voice (the recipe checked and normalized by the engine: 422 if bad)."""
    blend = engine.recipe_context(recipe)
    normalized = str(blend.meta.get("recipe", blend.voice_id))  # a one-part recipe is a built-in voice
    builtin = next((voice for voice in engine.builtin_voices() if voice.id == blend.voice_id), None)
    return StoredVoice(
        id=voice_id,
        name=name or voice_id,
        description=description,
        type=BLEND,
        engine=engine.capabilities.name,
        created_at=now_iso(),
        duration=0.0,
        sample_rate=0,
        source_format="",
        content_sha256=hashlib.sha256(f"blend:{normalized}".encode()).hexdigest(),
        has_latent=False,
        meta={
            "recipe": normalized,
            "language": blend.meta.get("language", builtin.language if builtin else None),
            "gender": blend.meta.get("gender", builtin.gender if builtin else None),
        },
        summary=f"a blend of built-in voices: {normalized}",
    )


def blend_context(engine: Engine, stored: StoredVoice) -> VoiceContext:
    """What a stored blend speaks with: its recipe's voice, under the stored id."""
    blend = engine.recipe_context(stored.meta["recipe"])
    return dataclasses.replace(blend, voice_id=stored.id, version=f"{blend.version}:{blend.voice_id}")
