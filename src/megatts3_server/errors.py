"""One error hierarchy for the whole service; the API layer maps it to HTTP in one place.

Every error carries a machine-readable ``code`` (stable, snake_case), a human ``message`` and
the HTTP status a client should see. Nothing below the API layer knows about HTTP beyond this.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error the service reports to a client."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.retry_after = retry_after
        """Seconds after which the same request may succeed (sent as Retry-After)."""


class InvalidRequestError(ServiceError):
    """The request is well-formed but a value is not acceptable."""

    status = 422
    code = "invalid_request"


class EmptyTextError(InvalidRequestError):
    code = "empty_text"


class UnsupportedLanguageError(InvalidRequestError):
    """The text is (partly) written in a script the engine cannot speak."""

    code = "unsupported_language"


class TextTooLongError(ServiceError):
    status = 413
    code = "text_too_long"


class UnsupportedFormatError(InvalidRequestError):
    """An output format (or upload container) the service does not handle."""

    code = "unsupported_format"


class AudioDecodeError(ServiceError):
    """Uploaded audio could not be decoded: corrupt, truncated or not audio at all."""

    status = 415
    code = "invalid_audio"


class UnsupportedAudioFormatError(AudioDecodeError):
    """Uploaded audio decodes, but its container/codec is not in ``storage.supported_formats``."""

    code = "unsupported_audio_format"


class PayloadTooLargeError(ServiceError):
    status = 413
    code = "payload_too_large"


class InvalidLatentError(InvalidRequestError):
    code = "invalid_latent"


class InvalidVoiceIdError(InvalidRequestError):
    code = "invalid_voice_id"


class VoiceNotFoundError(ServiceError):
    status = 404
    code = "voice_not_found"


class VoiceExistsError(ServiceError):
    status = 409
    code = "voice_exists"


class VoiceNotReadyError(ServiceError):
    """The voice exists but its enrollment has not finished (or failed)."""

    status = 409
    code = "voice_not_ready"


class VoiceEnrollingError(ServiceError):
    """The voice's enrollment is already pending or running: another is not queued beside it."""

    status = 409
    code = "voice_enrolling"


class VoiceReadOnlyError(ServiceError):
    status = 403
    code = "voice_read_only"


class JobNotFoundError(ServiceError):
    status = 404
    code = "job_not_found"


class JobsUnavailableError(ServiceError):
    """Long-form jobs are turned off here (api.jobs.enabled) or not started."""

    status = 503
    code = "jobs_unavailable"


class JobNotFinishedError(ServiceError):
    """A long-form job's results were asked for before it finished."""

    status = 409
    code = "job_not_finished"


class InvalidPronunciationError(InvalidRequestError):
    """A reading (lexicon entry or inline mark) that is not valid pinyin or phonemes."""

    code = "invalid_pronunciation"


class LexiconEntryNotFoundError(ServiceError):
    status = 404
    code = "lexicon_entry_not_found"


class OwnerNotFoundError(ServiceError):
    """A caller named an owner (tenant) whose data it may not see: not found, as for one that does not exist."""

    status = 404
    code = "owner_not_found"


class StorageFullError(ServiceError):
    """The disk (or quota) holding the voice store is full: nothing was stored."""

    status = 507
    code = "insufficient_storage"


class StorageUnavailableError(ServiceError):
    """The voice store cannot be read or written (I/O error, read-only or locked): a server-side
    fault the client can retry later, not a bug."""

    status = 503
    code = "storage_unavailable"


class EngineNotReadyError(ServiceError):
    status = 503
    code = "engine_not_ready"


class SynthesisTimeoutError(ServiceError):
    status = 504
    code = "synthesis_timeout"


class StreamAbortedError(ServiceError):
    """A stream that cannot be finished after its first bytes were sent: the response is cut off
    without its terminating chunk (and an SSE stream gets an ``error`` event first), so that no
    client mistakes the partial audio for the whole of it. ``code`` says why (synthesis_timeout...)."""

    status = 504
    code = "stream_aborted"


class QueueFullError(ServiceError):
    """Every synthesis slot and queue place is taken; the client should retry later."""

    status = 503
    code = "queue_full"


class RateLimitedError(ServiceError):
    status = 429
    code = "rate_limited"


class UnauthorizedError(ServiceError):
    status = 401
    code = "unauthorized"


class SynthesisCancelledError(ServiceError):
    """The work was cancelled (client gone, timeout); never shown to a client that is still there."""

    status = 499
    code = "cancelled"


class ConfigError(Exception):
    """The configuration is invalid; raised at start-up with the offending key in the message."""
