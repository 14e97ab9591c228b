"""Logging to the console and to a size-rotated file, in the configured format."""

from __future__ import annotations

import contextvars
import logging
import logging.handlers

from megatts3_server.config import LoggingSettings


def configure_logging(settings: LoggingSettings) -> None:
    """Install the service's handlers on the root logger (idempotent: replaces earlier ones)."""
    formatter = logging.Formatter(settings.format)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.file is not None:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.file, maxBytes=int(settings.max_size), backupCount=settings.backup_count, encoding="utf-8"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.level)


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    """The id of the request being handled in this context ("-" outside a request)."""
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token[str]:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token[str]) -> None:
    _request_id.reset(token)
