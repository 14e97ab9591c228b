"""Copying every voice of one store into another (``megatts3-server voices migrate``: SQLite + files
into PostgreSQL), idempotently: a voice already in the target with the same content is skipped, one
with the same id and other content is left alone and reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from megatts3_server.errors import VoiceExistsError
from megatts3_server.voices.records import NewVoiceFiles, StoredVoice, canonical_voice_id
from megatts3_server.voices.store_interface import VoiceStoreInterface

Outcome = Literal["copied", "skipped", "conflict"]
"""copied; skipped: already in the target with the same content; conflict: the id is taken in the
target by a voice with other content (left alone, there and in the source)."""


@dataclass
class TransferReport:
    """What a copy did: the ids (as the source spells them) of each outcome."""

    outcomes: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in get_args(Outcome)})

    @property
    def complete(self) -> bool:
        """Whether every voice of the source is now in the target."""
        return not self.outcomes["conflict"]


def copy_voices(
    source: VoiceStoreInterface,
    target: VoiceStoreInterface,
    on_voice: Callable[[Outcome, StoredVoice], None] | None = None,
) -> TransferReport:
    """Copy every voice of ``source`` (its record, job state and files) that ``target`` lacks;
    ``on_voice`` is told of each voice as it is handled."""
    report = TransferReport()
    for voice in source.list():
        outcome = _copy_one(source, target, voice)
        report.outcomes[outcome].append(voice.id)
        if on_voice is not None:
            on_voice(outcome, voice)
    return report


def _copy_one(source: VoiceStoreInterface, target: VoiceStoreInterface, voice: StoredVoice) -> Outcome:
    present = target.get(canonical_voice_id(voice.id))
    if present is None:
        reference, latent = source.load_reference(voice.id)
        files = NewVoiceFiles(reference_wav=reference, latent=latent, arrays=source.load_arrays(voice.id))
        try:
            target.save_atomic(voice, files)
            return "copied"
        except VoiceExistsError:  # stored meanwhile (another copy running): judged like any present voice
            present = target.get(canonical_voice_id(voice.id))
    if present is not None and present.content_sha256 == voice.content_sha256:
        return "skipped"
    return "conflict"
