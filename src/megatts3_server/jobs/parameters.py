"""How one segment of a long-form job is spoken, typed from the request to the engine: its synthesis
parameters, the request's own lexicon and whether the service cast its voice.

The job stores keep it as one JSON object (``to_json`` / ``from_stored``, the only conversion), the
flat form jobs have always been stored in: ``speed``, ``pitch``, ``emotion``, the sampling options
that are set, then ``lexicon`` and ``cast`` when present. A job stored by an older version reads the
same, so it resumes after an upgrade.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from megatts3_server.engines.base import SamplingOptions, SynthesisParameters

_OPTIONS = tuple(option.name for option in dataclasses.fields(SamplingOptions))


@dataclass(frozen=True)
class JobParameters:
    """A segment's synthesis parameters, the request's lexicon and its cast flag."""

    speech: SynthesisParameters = field(default_factory=SynthesisParameters)
    lexicon: Mapping[str, str] | None = None
    """Readings for this job's words, winning over the stored and configured lexicon."""
    cast: bool = False
    """The segment's voice was cast by the service (service/casting.py), not named by the request."""

    def to_json(self) -> str:
        """The stored form (see the module docstring)."""
        speech = self.speech
        stored: dict[str, Any] = {"speed": speech.speed, "pitch": speech.pitch, "emotion": speech.emotion}
        stored |= {name: value for name, value in dataclasses.asdict(speech.options).items() if value is not None}
        if self.lexicon:
            stored["lexicon"] = dict(self.lexicon)
        if self.cast:
            stored["cast"] = True
        return json.dumps(stored, ensure_ascii=False)

    @classmethod
    def from_stored(cls, stored: str | Mapping[str, Any]) -> JobParameters:
        """Parameters as a store returns them: JSON text (SQLite) or the decoded object (PostgreSQL JSONB)."""
        values = json.loads(stored) if isinstance(stored, str) else stored
        speech = SynthesisParameters(
            speed=values.get("speed", 1.0),
            pitch=values.get("pitch", 1.0),
            emotion=values.get("emotion", "neutral"),
            options=SamplingOptions(**{name: values.get(name) for name in _OPTIONS}),
        )
        return cls(speech, values.get("lexicon") or None, bool(values.get("cast")))
