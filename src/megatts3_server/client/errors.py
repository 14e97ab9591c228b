"""The client's errors: one class per kind of failure, built from the service's JSON error body."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator
from typing import Any

import httpx


class MegaTTS3Error(Exception):
    """An error answered by the service (``status``, and ``code``/``message`` of its JSON body), or met
    on the way to it (``status`` None)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        retry_after: float | None = None,
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.request_id = request_id
        self.details = details

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}" if self.status else f"{self.code}: {self.message}"


class InvalidRequestError(MegaTTS3Error):
    """The service refused the request as given (a 4xx without a more specific class below)."""


class AuthenticationError(MegaTTS3Error):
    """401: a valid API key is required."""


class NotFoundError(MegaTTS3Error):
    """404: no such voice (or route)."""


class RateLimitedError(MegaTTS3Error):
    """429, still refused after the client's retries."""


class ServiceUnavailableError(MegaTTS3Error):
    """503 (queue full, engine still loading), still refused after the client's retries."""


class ServerError(MegaTTS3Error):
    """Any other 5xx, e.g. 504 synthesis_timeout."""


class MegaTTS3ConnectionError(MegaTTS3Error):
    """The service could not be reached, or the connection broke."""


class MegaTTS3TimeoutError(MegaTTS3Error):
    """No answer within the client's timeout, or a voice not ready within wait_for_voice's."""


class VoiceEnrollmentError(MegaTTS3Error):
    """The service reports the voice as ``failed``."""


class JobFailedError(MegaTTS3Error):
    """A long-form job ended ``failed`` or ``cancelled`` (``details``: the job)."""


_ERROR_TYPES: dict[int, type[MegaTTS3Error]] = {
    401: AuthenticationError,
    404: NotFoundError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> MegaTTS3Error:
    """The typed error for an error response, with the server's ``{"error": {"code", "message"}}``."""
    status = response.status_code
    try:
        body = response.json()["error"]
        code, message, details = str(body["code"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):  # not the service's JSON: a proxy's error page, say
        code, message, details = f"http_{status}", response.text.strip()[:500] or response.reason_phrase, None
    kind = _ERROR_TYPES.get(status) or (InvalidRequestError if status < 500 else ServerError)
    return kind(
        message,
        status=status,
        code=code,
        retry_after=_retry_after(response),
        request_id=response.headers.get("X-Request-ID"),
        details=details,
    )


@contextlib.contextmanager
def transport_errors(base_url: str) -> Iterator[None]:
    """httpx's network errors as MegaTTS3ConnectionError / MegaTTS3TimeoutError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise MegaTTS3TimeoutError(f"no answer from {base_url} in time ({exc!r})", code="timeout") from exc
    except httpx.TransportError as exc:
        raise MegaTTS3ConnectionError(f"cannot reach {base_url}: {exc}", code="connection_error") from exc
