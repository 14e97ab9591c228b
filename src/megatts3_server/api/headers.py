"""The response headers the API sends, named once: routes set them, CORS exposes exactly these."""

from __future__ import annotations

REQUEST_ID = "X-Request-ID"
VOICE_ID = "X-Voice-Id"
VOICE_USED = "X-Voice-Used"
SAMPLE_RATE = "X-Sample-Rate"
AUDIO_DURATION = "X-Audio-Duration"
SYNTHESIS_TIME = "X-Synthesis-Time"
EMOTION_REQUESTED = "X-Emotion-Requested"
EMOTION_APPLIED = "X-Emotion-Applied"
EMOTION_WARNING = "X-Emotion-Warning"
CACHE = "X-Cache"
VOICE_PREPARED = "X-Voice-Prepared"
VOICE_NOTE = "X-Voice-Note"
INSTRUCTIONS_APPLIED = "X-Instructions-Applied"
RETRY_AFTER = "Retry-After"
CONTENT_DISPOSITION = "Content-Disposition"

EXPOSED = (
    REQUEST_ID,
    VOICE_ID,
    VOICE_USED,
    SAMPLE_RATE,
    AUDIO_DURATION,
    SYNTHESIS_TIME,
    EMOTION_REQUESTED,
    EMOTION_APPLIED,
    EMOTION_WARNING,
    CACHE,
    VOICE_PREPARED,
    VOICE_NOTE,
    INSTRUCTIONS_APPLIED,
    RETRY_AFTER,
    CONTENT_DISPOSITION,
)
"""Every header above: what a browser client on another origin may read (CORS expose_headers)."""
