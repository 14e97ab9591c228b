"""uvicorn's server, telling the app it drains as soon as the stop signal arrives.

On SIGTERM uvicorn stops accepting connections and lets the requests in flight finish (up to
``timeout_graceful_shutdown``: api.shutdown_grace_seconds), then cancels the rest (api/cancellation.py
answers them 503 and logs each); before that, /ready turns 503 ("draining") so a balancer that
still holds an open connection sends new work elsewhere, and a running enrollment is released at
once, for another replica (or the next start) to take. The app's lifespan then stops the rest.
"""

from __future__ import annotations

from types import FrameType

import uvicorn
from fastapi import FastAPI


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, application: FastAPI) -> None:
        super().__init__(config)
        self._application = application

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        services = self._application.state.services
        services.health.begin_drain()
        services.voices.jobs.stop(timeout=0)  # the running enrollment's lease goes back now, not after the drain
        super().handle_exit(sig, frame)
