"""Stored voices for the voice-store and enrollment tests, built in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from megatts3_server.audio import write_wav
from megatts3_server.voices import NewVoiceFiles, StoredVoice, VoiceStore, now_iso

RATE = 24_000


def stored_voice(voice_id: str, **fields: Any) -> StoredVoice:
    """A two-second uploaded voice's record (``fields`` override any of its values)."""
    voice = StoredVoice(
        id=voice_id,
        name=voice_id,
        description="",
        type="uploaded",
        engine="test",
        created_at=now_iso(),
        duration=2.0,
        sample_rate=RATE,
        source_format="wav",
        content_sha256="0" * 64,
        has_latent=False,
    )
    return dataclasses.replace(voice, **fields)


def silent_reference() -> NewVoiceFiles:
    """Files of a voice whose reference is two seconds of silence (what the store keeps, not speech)."""
    return NewVoiceFiles(write_wav(np.zeros(2 * RATE, np.float32), RATE))


def opened_store(folder: Path) -> VoiceStore:
    store = VoiceStore(folder)
    store.open()
    return store
