"""Where an uploaded voice is in its life: the one spelling of each state, for the store, the
services, the API and the client alike."""

from __future__ import annotations

import enum


class VoiceStatus(enum.StrEnum):
    PENDING = "pending"
    """Stored; waiting for the enrollment worker."""
    ENROLLING = "enrolling"
    READY = "ready"
    """Usable for synthesis."""
    FAILED = "failed"
    """Enrollment gave up; ``error`` says why."""


UNFINISHED = (VoiceStatus.PENDING, VoiceStatus.ENROLLING)
