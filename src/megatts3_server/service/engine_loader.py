"""The one owner of the engine's load: runs it once, says where it stands, lets others wait for it.

Start-up does not block on the weights: ``start()`` loads them on a thread, /health answers at once
(503 "starting" until the engine can speak), and whoever needs the engine waits on ``wait()``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable

from megatts3_server.engines.base import Engine
from megatts3_server.errors import EngineNotReadyError

log = logging.getLogger(__name__)


class EngineState(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


class EngineLoader:
    """Loads one engine once and reports its state; every reader of the load state asks this object."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._done = threading.Event()
        self._error: str | None = None
        self._lock = threading.Lock()
        self._started = False
        self._on_ready: list[Callable[[Engine], None]] = []

    def on_ready(self, callback: Callable[[Engine], None]) -> None:
        """Run ``callback(engine)`` on the load thread once the engine has loaded, before the engine
        counts as ready; an exception in it is logged and does not fail the load."""
        self._on_ready.append(callback)

    @property
    def state(self) -> EngineState:
        if not self._done.is_set():
            return EngineState.STARTING
        return EngineState.FAILED if self._error is not None else EngineState.READY

    @property
    def error(self) -> str | None:
        """Why the load failed (None while loading or once loaded)."""
        return self._error

    def start(self) -> threading.Thread | None:
        """Load on a background thread (once; later calls do nothing and return None)."""
        if not self._claim():
            return None
        thread = threading.Thread(target=self._load, name="engine-load", daemon=True)
        thread.start()
        return thread

    def load_now(self) -> None:
        """Load in this thread (the CLI's in-process mode); raises EngineNotReadyError when it fails."""
        if self._claim():
            self._load()
        self.wait()
        self.require_ready()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load has ended (or ``timeout``); True when the engine is ready."""
        self._done.wait(timeout)
        return self.state is EngineState.READY

    def require_ready(self) -> None:
        """Raise the 503 a request gets while the engine cannot speak."""
        state = self.state
        if state is EngineState.FAILED:
            raise EngineNotReadyError(f"the engine failed to load: {self._error}")
        if state is EngineState.STARTING:
            raise EngineNotReadyError("the engine is still loading; retry in a few seconds", retry_after=5)

    def _claim(self) -> bool:
        with self._lock:
            if self._started:
                return False
            self._started = True
            return True

    def _load(self) -> None:
        try:
            self.engine.load()
        except Exception as exc:
            self._error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.exception("the engine failed to load; synthesis answers 503 until restart")
        else:
            for callback in self._on_ready:
                try:
                    callback(self.engine)
                except Exception:
                    log.exception("a start-up step after the engine's load failed; going on without it")
        finally:
            self._done.set()
