"""The MegaTTS3 engine in process: what is prepared once per voice, and what a request may not break."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from megatts3_server.app import create_app
from megatts3_server.audio import decode_audio
from megatts3_server.config import MegaTTS3Settings
from megatts3_server.engines.base import BatchItem, CancelToken, VoiceContext
from megatts3_server.engines.megatts3 import engine as engine_module
from megatts3_server.engines.megatts3.checkpoints import CheckpointError
from megatts3_server.engines.megatts3.engine import MegaTTS3Engine
from megatts3_server.engines.megatts3.voice_prompt import VoiceFormatError
from megatts3_server.errors import InvalidLatentError, InvalidRequestError, SynthesisCancelledError
from tests.support.megatts3 import SAMPLE_RATE, random_checkpoint_tree, reference_voice
from tests.support.standins import tone_settings


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint_tree(tmp_path_factory.mktemp("megatts3-checkpoints"))


def _engine(checkpoints: Path, **settings: object) -> MegaTTS3Engine:
    engine = MegaTTS3Engine(
        MegaTTS3Settings(checkpoint_dir=checkpoints, time_step=3, **settings),
        checkpoints / "wavvae",
        device="cpu",
        precision="fp16",  # half precision is for GPUs: on the CPU the engine runs fp32
        threads=1,
        batch_size=4,
    )
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(checkpoints: Path) -> Iterator[MegaTTS3Engine]:
    yield _engine(checkpoints)


@pytest.fixture(scope="module")
def voice(engine: MegaTTS3Engine) -> VoiceContext:
    wav, latent = reference_voice()
    prepared = engine.prepare_voice(decode_audio(wav, target_rate=SAMPLE_RATE), np.load(io.BytesIO(latent)))
    return VoiceContext("speaker", meta=prepared.meta, arrays=prepared.arrays, version="v1")


def test_a_prepared_voice_is_never_aligned_again(
    engine: MegaTTS3Engine, voice: VoiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("synthesis must start from the voice prepared at upload")

    monkeypatch.setattr(engine_module, "align_reference", refuse)
    fresh = VoiceContext(voice.voice_id, meta=voice.meta, arrays=voice.arrays, version="v2")
    assert len(engine.synthesize("Hello there.", fresh)) > 0


def test_a_new_process_speaks_a_stored_voice_the_same_way(
    engine: MegaTTS3Engine, voice: VoiceContext, checkpoints: Path
) -> None:
    stored = {name: np.array(array) for name, array in voice.arrays.items()}  # as the store reads them back
    restarted = _engine(checkpoints)
    again = VoiceContext(voice.voice_id, meta=dict(voice.meta), arrays=stored, version=voice.version)
    assert np.array_equal(engine.synthesize("Same words.", voice), restarted.synthesize("Same words.", again))


def test_the_dtype_follows_the_device(engine: MegaTTS3Engine) -> None:
    assert engine.capabilities.device == "cpu"
    assert str(engine._require_models().dtype) == "torch.float32"


def test_a_voice_of_another_engine_is_refused_clearly(engine: MegaTTS3Engine) -> None:
    kokoro_voice = VoiceContext("old", meta={"pack": "jf_alpha"}, arrays={"style": np.zeros((510, 256))})
    with pytest.raises(VoiceFormatError, match="upload its recording and latent again"):
        engine.synthesize("Hello.", kokoro_voice)


def test_references_the_engine_cannot_use_are_refused(engine: MegaTTS3Engine) -> None:
    wav, latent = reference_voice()
    audio = decode_audio(wav, target_rate=SAMPLE_RATE)
    with pytest.raises(InvalidLatentError, match="voice_latent"):
        engine.prepare_voice(audio, None)
    with pytest.raises(InvalidLatentError, match="shape"):
        engine.prepare_voice(audio, np.zeros((1, 400, 16), np.float32))
    with pytest.raises(InvalidLatentError, match="NaN"):
        engine.prepare_voice(audio, np.full((1, 400, 32), np.nan, np.float32))
    long = type(audio)(np.zeros(SAMPLE_RATE * 31, np.float32), SAMPLE_RATE, "wav")
    with pytest.raises(InvalidRequestError, match="at most 30 s"):
        engine.prepare_voice(long, np.load(io.BytesIO(latent)))


def test_a_cancelled_batch_stops(engine: MegaTTS3Engine, voice: VoiceContext) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(SynthesisCancelledError):
        engine.synthesize_batch([BatchItem("Stop here.", voice, cancel=token)])


def test_fresh_randomness_when_no_seed_is_configured(checkpoints: Path, voice: VoiceContext) -> None:
    engine = _engine(checkpoints, seed=None)
    first, second = engine.synthesize("Once more.", voice), engine.synthesize("Once more.", voice)
    assert len(first) != len(second) or not np.allclose(first, second)


def test_a_missing_checkpoint_file_is_named(tmp_path: Path, checkpoints: Path) -> None:
    for name in ("g2p", "aligner_lm", "duration_lm", "diffusion_transformer"):
        (tmp_path / name).symlink_to(checkpoints / name)
    (tmp_path / "wavvae").mkdir()
    (tmp_path / "wavvae" / "config.yaml").write_text((checkpoints / "wavvae" / "config.yaml").read_text())
    with pytest.raises(CheckpointError, match=r"no checkpoint in .*wavvae.*decoder\.ckpt"):
        MegaTTS3Engine(MegaTTS3Settings(checkpoint_dir=tmp_path), tmp_path / "wavvae", device="cpu")


def test_without_a_voice_of_its_own_a_request_must_name_one(engine: MegaTTS3Engine, tmp_path: Path) -> None:
    """MegaTTS3 has no built-in voice, hence no default and no OpenAI aliases: /api/v1/info says so,
    and a request (or a job) that names no voice is a 422 saying to name one."""
    assert (engine.default_voice(), engine.voice_aliases()) == (None, {})
    settings = tone_settings(tmp_path, default_voice=None, engine="megatts3")
    with TestClient(create_app(settings, engine=engine)) as http:
        assert http.get("/api/v1/info").json()["default_voice"] is None
        for route, body in (("/api/v1/tts/synthesize", {"text": "你好。"}), ("/api/v1/tts/jobs", {"text": "你好。"})):
            refused = http.post(route, json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (422, "voice_required"), refused.text
