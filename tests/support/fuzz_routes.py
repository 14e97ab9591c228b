"""What the fuzz modules of the routes added since the first fuzz suite share (tests/fuzz/
test_jobs_fuzz.py, test_lexicon_fuzz.py): the stored data a refused request must leave as it was, and
the check that an answer is a refusal of the expected kind."""

from __future__ import annotations

from typing import Any

from tests.support.malformed import Answer, Fuzzer, collect

JOBS = "/api/v1/tts/jobs"
LEXICON = "/api/v1/lexicon"
SYNTHESIZE = "/api/v1/tts/synthesize"
SPEECH = "/v1/audio/speech"
NO_VOICE = "no_such_voice_7c1"
"""A voice no server has: a job body that could otherwise be accepted is checked whole (every segment's
text, its speech), then refused for it, and no job is left to run."""


def stored_data(fuzz: Fuzzer) -> dict[str, Any]:
    """The stored lexicon and the job list, as the API shows them."""
    lexicon = fuzz.client.get(LEXICON)
    jobs = fuzz.client.get(JOBS)
    assert lexicon.status_code == 200 and jobs.status_code == 200, (lexicon.text[:200], jobs.text[:200])
    return {
        "lexicon": lexicon.json()["entries"],
        "jobs": sorted((job["id"], job["status"]) for job in jobs.json()["jobs"]),
    }


def refused(answer: Answer, failures: list[str], *statuses: int) -> None:
    """Add ``answer`` to ``failures`` when it breaks the contract or its status is not one of ``statuses``."""
    collect(answer, failures)
    if answer.status not in statuses:
        failures.append(f"expected {statuses}, got {answer.status}\n  {answer.describe()}")
