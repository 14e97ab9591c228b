"""Cloning with the embedded engine over HTTP: a real English clip is enrolled in the background,
the voice ends at least as close to the speaker as the closest stock voice and stays intelligible; an enrollment cut
short by a crash resumes after the restart; synthesize_file clones briefly and reuses the result.
(Silence, noise and too-short references: tests/integration/test_voices.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from megatts3_server.engines.kokoro.speaker import SpeakerJudge, cosine
from tests.support.audio import decode
from tests.support.reference_clips import clip
from tests.support.server import ServerProcess, running_server, write_configs
from tests.support.speech import transcribe, wer_en

pytestmark = pytest.mark.slow

SPEAKER = "en_ashley"
# The engine's check sentence (engines/kokoro/engine.py): enrollment keeps the best pack by it.
CHECK_SENTENCE = "We walked along the quiet river until the sun went down behind the hills."
ENGLISH = (
    "Please remember to bring your umbrella because it might rain later.",
    "The library opens at nine and closes early on Sundays.",
)


@pytest.fixture(scope="module")
def reference() -> bytes:
    return clip(SPEAKER).read_bytes()


@pytest.fixture(scope="module")
def cloning_server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("cloning")
    model = {"cloning": {"budget_seconds": 20, "one_shot_budget_seconds": 4}}
    with running_server(folder, model_cache, model=model) as server:
        yield server


@pytest.fixture(scope="module")
def http(cloning_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloning_server.base_url, timeout=120) as client:
        yield client


def _upload(http: httpx.Client, voice_id: str, wav: bytes) -> httpx.Response:
    return http.post("/api/v1/voices/upload", files={"voice_file": ("ref.wav", wav)}, data={"voice_id": voice_id})


def _follow(http: httpx.Client, url: str, until: set[str], timeout: float = 180) -> list[dict]:
    """The voice's states seen while polling, until its status is in ``until``."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1]["status"] not in until:
        assert time.monotonic() < deadline, seen[-1:]
        seen.append(http.get(url).json())
        time.sleep(0.3)
    return seen


def _speak(http: httpx.Client, text: str, voice: str) -> bytes:
    response = http.post("/api/v1/tts/synthesize", json={"text": text, "voice_id": voice})
    assert response.status_code == 200, response.text
    return response.content


def _similarity(judge: SpeakerJudge, target: np.ndarray, wav: bytes) -> float:
    samples, rate = decode(wav)
    return cosine(judge.embed(samples, rate), target)


def test_upload_enrolls_in_the_background_into_an_intelligible_voice_close_to_the_speaker(
    http: httpx.Client, reference: bytes
) -> None:
    response = _upload(http, "ashley", reference)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["id"], body["status"], body["status_url"]) == ("ashley", "pending", "/api/v1/voices/ashley")
    early = http.post("/api/v1/tts/synthesize", json={"text": "Hello.", "voice_id": "ashley"})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "voice_not_ready"

    states = _follow(http, body["status_url"], {"ready", "failed"})
    assert states[-1]["status"] == "ready", states[-1]
    assert any(state["status"] == "enrolling" and 0 < state["progress"] < 100 for state in states)
    assert states[-1]["progress"] == 100 and 0 < states[-1]["similarity"] <= 1

    judge = SpeakerJudge()
    samples, rate = decode(reference)
    target = judge.embed(samples, rate)
    stock = {
        f"voice_00{i}": _similarity(judge, target, _speak(http, CHECK_SENTENCE, f"voice_00{i}")) for i in range(1, 6)
    }
    cloned = _similarity(judge, target, _speak(http, CHECK_SENTENCE, "ashley"))
    print(f"similarity to {SPEAKER}: stock {stock}, cloned {cloned:.3f}")
    # The search keeps its start (the closest stock pack or blend) unless a candidate beats it on this
    # sentence, so the voice is never farther than the closest stock voice (WAV rounding aside). Whether
    # it gets strictly closer depends on how many candidates the budget allowed: see test_style_search.py.
    assert cloned >= max(stock.values()) - 0.005

    rates = [wer_en(sentence, transcribe(_speak(http, sentence, "ashley"), "en")) for sentence in ENGLISH]
    assert sum(rates) / len(rates) < 0.2, rates


def test_one_shot_reference_is_cloned_briefly_then_reused(http: httpx.Client, reference: bytes) -> None:
    other = clip("en_michael").read_bytes()
    files = {"voice_file": ("ref.wav", other)}
    first = http.post("/api/v1/tts/synthesize_file", files=files, data={"text": "Good morning."})
    assert first.status_code == 200, first.text
    assert first.headers["X-Voice-Prepared"] == "new"
    # A style searched from the closest stock pack, or that pack itself where the brief search found
    # nothing closer (how many candidates fit the budget depends on the machine).
    used = first.headers["X-Voice-Used"]
    stock = {voice["id"] for voice in http.get("/api/v1/voices").json()["voices"]}
    assert used.removeprefix("custom style from ").removesuffix(" (the closest stock voice)") in stock, used
    again = http.post("/api/v1/tts/synthesize_file", files=files, data={"text": "Good evening."})
    assert again.headers["X-Voice-Prepared"] == "reused"


def test_an_enrollment_cut_short_by_a_crash_resumes_after_the_restart(tmp_path: Path, model_cache: Path) -> None:
    storage = tmp_path / "storage"
    long_search = {"cloning": {"budget_seconds": 600}}
    server = ServerProcess(*write_configs(tmp_path / "first", storage=storage, cache=model_cache, model=long_search))
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            assert _upload(client, "crashy", clip("en_karen").read_bytes()).status_code == 202
            _follow(client, "/api/v1/voices/crashy", {"enrolling"})
        server.process.kill()  # no shutdown: the job is left "enrolling" in the store
        server.process.wait()
    finally:
        server.stop()

    short_search = {"cloning": {"budget_seconds": 5}}
    restarted = ServerProcess(
        *write_configs(tmp_path / "second", storage=storage, cache=model_cache, model=short_search)
    )
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=60) as client:
            states = _follow(client, "/api/v1/voices/crashy", {"ready", "failed"})
            assert states[-1]["status"] == "ready", states[-1]
            assert (
                client.post("/api/v1/tts/synthesize", json={"text": "Back again.", "voice_id": "crashy"}).status_code
                == 200
            )
    finally:
        restarted.stop()
