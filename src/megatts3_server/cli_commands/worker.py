"""``megatts3-server worker``: run enrollment jobs only (no HTTP), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading

from megatts3_server.cli_commands.common import ApiConfig, ModelConfig, load_cli_settings, reported_errors


def worker(config: ApiConfig = None, model_config: ModelConfig = None) -> None:
    """Enroll uploaded voices (no HTTP) until SIGTERM or Ctrl-C.

    Loads the engine, opens the voice store (storage.*) and enrolls the voices uploads left pending,
    each job taken with a lease so that any number of workers and API replicas share them (a
    PostgreSQL store; with SQLite, run one). On SIGTERM the running job is handed back at once.
    Pair with api.enrollment: false (MEGATTS3_ENROLLMENT=0) on the API replicas.
    """
    from megatts3_server.logs import configure_logging
    from megatts3_server.service.worker import run_enrollment_worker

    settings = load_cli_settings(config, model_config, {})
    configure_logging(settings.logging)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with reported_errors():
        run_enrollment_worker(settings, stop)
