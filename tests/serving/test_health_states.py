"""/health answers 200 only when a synthesis would be served: 503 with the same body while the engine
loads, after it failed to load, and when the synthesis workers are not running."""

from __future__ import annotations

from pathlib import Path

from tests.support.standins import ToneEngine, tone_app, tone_settings


def test_health_is_503_while_loading_then_200(tmp_path: Path) -> None:
    engine = ToneEngine(hold_load=True)
    with tone_app(tone_settings(tmp_path), engine) as (http, _):
        loading = http.get("/health")
        assert loading.status_code == 503
        assert loading.json()["status"] == "starting" and loading.json()["model_loaded"] is False
        # What a caller that trusted the gate would have met: a clear 503, never a broken answer.
        refused = http.post("/api/v1/tts/synthesize", json={"text": "你好"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "engine_not_ready"
        assert http.get("/ready").status_code == 503
        engine.release.set()
        services = http.app.state.services  # type: ignore[attr-defined]
        assert services.loader.wait(timeout=30)
        ready = http.get("/health")
        assert ready.status_code == 200
        assert ready.json()["status"] == "healthy" and ready.json()["model_loaded"] is True
        assert http.post("/api/v1/tts/synthesize", json={"text": "你好"}).status_code == 200


def test_a_failed_engine_stays_503_and_says_why(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path), ToneEngine(fail_load="weights missing: g2p/")) as (http, _):
        services = http.app.state.services  # type: ignore[attr-defined]
        assert not services.loader.wait(timeout=30)
        for _ in range(3):
            answer = http.get("/health")
            assert answer.status_code == 503
            body = answer.json()
            assert body["status"] == "failed" and "weights missing" in body["engine"]["error"]
        synth = http.post("/api/v1/tts/synthesize", json={"text": "hi"})
        assert synth.status_code == 503 and "weights missing" in synth.json()["error"]["message"]


def test_stopped_synthesis_workers_make_health_503(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        services = http.app.state.services  # type: ignore[attr-defined]
        services.loader.wait(timeout=30)
        assert http.get("/health").status_code == 200
        services.scheduler.stop()
        answer = http.get("/health")
        assert answer.status_code == 503 and answer.json()["status"] == "unavailable"


def test_the_clients_health_check_reads_the_503_body(tmp_path: Path) -> None:
    from megatts3_server.client.operations import Operations

    engine = ToneEngine(hold_load=True)
    with tone_app(tone_settings(tmp_path), engine) as (http, _):
        operation = Operations(retries=3, max_retry_wait=1).health()
        step = next(operation)
        response = http.request(step.method, step.path)
        try:
            operation.send(response)
        except StopIteration as done:
            assert done.value["status"] == "starting"
        else:
            raise AssertionError("health() asked for a retry instead of reporting the state")
        engine.release.set()


def test_ready_means_loaded_and_not_draining_and_a_busy_replica_stays_ready(tmp_path: Path) -> None:
    with tone_app(tone_settings(tmp_path)) as (http, _):
        services = http.app.state.services  # type: ignore[attr-defined]
        services.scheduler._max_queue = 0  # every place taken: what a saturated replica looks like
        busy = http.get("/ready")
        assert busy.status_code == 200 and busy.json()["queue"]["saturated"] is True
        services.health.begin_drain()
        draining = http.get("/ready")
        assert draining.status_code == 503 and any("draining" in reason for reason in draining.json()["reasons"])
        assert http.get("/health").status_code == 200, "a draining replica still finishes its work"
