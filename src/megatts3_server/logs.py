"""Logging to the console and to a size-rotated file, in the configured format."""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import warnings

from megatts3_server.config import LoggingSettings


def _warning_or_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def _not_a_word_count_mismatch(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("words count mismatch")


def quiet_libraries() -> None:
    """Silence what libraries say that tells an operator nothing, each thing where it starts, and
    nothing else (idempotent; before the engine loads, so before those libraries are imported):

    - jieba's dictionary build ("Building prefix dict ...", "Loading model cost ...") at DEBUG, printed
      by a handler of its own and again by ours. jieba sets its logger's level when imported, so a
      filter on that logger keeps its warnings and errors only.
    - setuptools' "pkg_resources is deprecated" UserWarning, raised where jieba and webrtcvad
      (Resemblyzer's, with the cloning extra) import pkg_resources; setuptools is pinned below 81.
    - phonemizer's "words count mismatch": espeak counts a line's words differently once punctuation
      is kept ("costs $3.50 - a bargain"), which changes none of the phonemes.
    """
    logging.getLogger("jieba").addFilter(_warning_or_worse)
    logging.getLogger("phonemizer").addFilter(_not_a_word_count_mismatch)
    warnings.filterwarnings(
        "ignore", message="pkg_resources is deprecated", category=UserWarning, module=r"(jieba\._compat|webrtcvad)$"
    )


def configure_logging(settings: LoggingSettings) -> None:
    """Install the service's handlers on the root logger (idempotent: replaces earlier ones), and
    quiet the libraries' chatter (quiet_libraries)."""
    quiet_libraries()
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
