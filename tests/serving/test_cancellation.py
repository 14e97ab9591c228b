"""Work nobody waits for stops: a whole (non-streamed) response whose client left stops within the
piece being spoken, a stop with work in flight ends after api.shutdown_grace_seconds, answering and
logging what it cancelled, and a stream the timeout cuts off is logged without a traceback. Real
uvicorn on loopback, in this process, over a held tone engine; every assertion is on events and
counters (engine calls, pieces dropped, log records), none on elapsed time."""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from megatts3_server.app import create_app
from megatts3_server.draining import DrainingServer
from megatts3_server.engines.base import CancelToken, VoiceContext
from tests.support.standins import ToneEngine, tone_settings
from tests.support.waiting import wait_until

# Twenty sentences: twenty engine calls when spoken whole.
LONG_TEXT = " ".join(f"This is sentence number {n} of a long text." for n in range(1, 21))


class HeldEngine(ToneEngine):
    """Each engine call waits for ``go`` (a call can be let through one at a time); counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Semaphore(0)
        self.calls = 0
        self.finished = 0

    def synthesize(
        self, text: str, voice: VoiceContext, *, speed: float = 1.0, cancel: CancelToken | None = None
    ) -> np.ndarray:
        self.calls += 1
        self.go.acquire(timeout=120)
        try:
            return super().synthesize(text, voice, speed=speed, cancel=cancel)
        finally:
            self.finished += 1


@contextmanager
def served(
    tmp_path: Path, engine: HeldEngine, **api: Any
) -> Iterator[tuple[str, DrainingServer, threading.Thread, Any]]:
    """The app over ``engine`` behind a real uvicorn (DrainingServer, as ``serve`` runs it) on loopback."""
    settings = tone_settings(tmp_path, api={"scheduler": {"workers": 1}, **api}, cache={"enabled": False})
    app = create_app(settings, engine=engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,  # as ``serve`` runs it: uvicorn's own records reach the root logger (and caplog)
        timeout_graceful_shutdown=settings.api.shutdown_grace_seconds,
    )
    server = DrainingServer(config, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=60)
    services = app.state.services
    wait_until(lambda: engine.calls == 1, timeout=60)  # the service's own speed measurement after the load
    engine.go.release()
    assert services.loader.wait(60)
    engine.calls = engine.finished = 0
    try:
        yield f"http://127.0.0.1:{port}", server, thread, services
    finally:
        server.should_exit = True
        for _ in range(100):
            engine.go.release()
        thread.join(timeout=60)


def _dropped(services: Any) -> float:
    return services.metrics.pieces.labels(outcome="dropped")._value.get()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/tts/synthesize", {"text": LONG_TEXT, "voice_id": "tone_low", "format": "pcm"}),
        ("/v1/audio/speech", {"model": "tts-1", "input": LONG_TEXT, "voice": "tone_low", "stream": False}),
    ],
    ids=["synthesize", "openai-whole"],
)
def test_an_abandoned_whole_request_stops_within_one_piece(tmp_path: Path, path: str, body: dict) -> None:
    engine = HeldEngine()
    with served(tmp_path, engine) as (url, _, _, services):
        payload = json.dumps(body).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(request)
            wait_until(lambda: engine.calls == 1, timeout=60)  # its first piece is being spoken
        # The client is gone: the request's waiting pieces are dropped before the engine is let go.
        wait_until(lambda: _dropped(services) >= 19, timeout=60)
        for _ in range(20):
            engine.go.release()
        wait_until(lambda: engine.finished == 1, timeout=60)
        assert httpx.get(f"{url}/health").json()["queue"]["depth"] == 0
        assert engine.calls == 1, "pieces were spoken after the client left"
        gone = services.metrics.requests.labels(route=path, status="499")._value.get()
        assert gone == 1


def test_a_stop_with_work_in_flight_ends_after_the_grace_period_answering_and_logging_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = HeldEngine()
    caplog.set_level(logging.INFO)
    with (
        served(tmp_path, engine, shutdown_grace_seconds=0.2) as (url, server, thread, services),
        ThreadPoolExecutor(1) as pool,
    ):
        body = {"text": LONG_TEXT, "voice_id": "tone_low", "format": "pcm"}
        answer = pool.submit(httpx.post, f"{url}/api/v1/tts/synthesize", json=body, timeout=120)
        wait_until(lambda: engine.calls == 1, timeout=60)
        server.handle_exit(signal.SIGTERM, None)  # as the signal would: drain, then stop
        response = answer.result(timeout=120)
        # The server has stopped while the engine call is still held: the stop cancelled the work
        # rather than waiting for it (the join's bound is a safety net for a stuck stop, not a measure).
        thread.join(timeout=60)
        assert not thread.is_alive() and engine.finished == 0
        assert services.health.draining
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "server_stopping"
    assert _dropped(services) >= 19
    cancelled = [record.getMessage() for record in caplog.records if "server stopped before" in record.getMessage()]
    assert cancelled == [
        "POST /api/v1/tts/synthesize cancelled: the server stopped before it finished "
        "(api.shutdown_grace_seconds); answered 503"
    ]
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"


def test_a_stream_cut_off_by_the_timeout_is_logged_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = HeldEngine()
    caplog.set_level(logging.INFO)
    with served(tmp_path, engine, timeout=2) as (url, _, _, _):
        engine.go.release()  # the first sentence only; the second never comes within api.timeout
        body = {"text": LONG_TEXT, "voice_id": "tone_low", "format": "pcm", "stream": True}
        received = b""
        with pytest.raises(httpx.HTTPError), httpx.stream("POST", f"{url}/api/v1/tts/synthesize", json=body) as stream:
            assert stream.status_code == 200
            for chunk in stream.iter_raw():
                received += chunk
        assert received  # the first sentence's audio came, then the body was cut off
    messages = [record.getMessage() for record in caplog.records]
    assert any("stream aborted after 1 of" in message for message in messages), messages
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"
