"""The aligner: config, model, log-mel, cached greedy decoding, and the token → alignment parser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from megatts3_server.engines.megatts3.aligner import (
    END_TOKEN,
    START_TOKEN,
    AlignerConfig,
    WhisperAligner,
    load_aligner,
    log_mel,
    resample,
    slaney_mel_filters,
)
from megatts3_server.engines.megatts3.alignment import (
    align_reference,
    fit_durations,
    parse_alignment,
    prompt_mel,
)
from megatts3_server.engines.megatts3.checkpoints import CheckpointError, save_checkpoint
from megatts3_server.engines.megatts3.phones import SIL
from megatts3_server.engines.megatts3.random_weights import aligner_weights as random_state_dict

TS = 800  # timestamp tokens are 800 + end frame


def merged(phone: int, rank: int) -> int:
    return (phone - 3) * 6 + 200 + rank


@pytest.fixture(scope="module")
def model() -> WhisperAligner:
    config = AlignerConfig.small()
    aligner = WhisperAligner(config)
    aligner.load_state_dict(random_state_dict(config, seed=1))
    return aligner.eval()


def test_config_round_trip_and_reference_defaults() -> None:
    assert AlignerConfig.from_hparams({}) == AlignerConfig.full()
    assert AlignerConfig.from_hparams({"lr": 1e-4, "n_head": 3}) == AlignerConfig.full()  # unrelated keys ignored
    small = AlignerConfig.small()
    assert AlignerConfig.from_hparams(small.to_hparams()) == small


def test_state_dict_keys_follow_the_reference() -> None:
    keys = WhisperAligner(AlignerConfig.small()).state_dict()
    for key in (
        "encoder.conv1.weight",
        "encoder.positional_embedding",
        "encoder.blocks.0.attn.query.bias",
        "encoder.blocks.0.mlp.2.weight",
        "encoder.ln_post.weight",
        "decoder.token_embedding.weight",
        "decoder.positional_embedding",
        "decoder.blocks.0.cross_attn.value.weight",
        "decoder.blocks.0.cross_attn_ln.bias",
        "decoder.ln.weight",
        "decoder.out_proj.bias",
    ):
        assert key in keys
    assert "encoder.blocks.0.attn.key.bias" not in keys


def test_checkpoint_round_trip_and_strict_errors(tmp_path: Path) -> None:
    config = AlignerConfig.small()
    weights = random_state_dict(config, seed=2)
    save_checkpoint(tmp_path / "aligner_lm", "model", weights, config.to_hparams())
    loaded, loaded_config = load_aligner(tmp_path / "aligner_lm")
    assert loaded_config == config
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, weights[key]), key
    broken = dict(weights)
    del broken["decoder.out_proj.bias"]
    broken["decoder.extra"] = torch.zeros(1)
    save_checkpoint(tmp_path / "broken", "model", broken, config.to_hparams())
    with pytest.raises(CheckpointError, match=r"decoder\.out_proj\.bias.*decoder\.extra|decoder\.extra"):
        load_aligner(tmp_path / "broken")


def test_cached_decoding_matches_full_recompute(model: WhisperAligner) -> None:
    mel = torch.randn(1, 80, 64)
    with torch.inference_mode():
        audio = model.embed_audio(mel)
        (cached,) = model.greedy_decode(audio, max_steps=20)
        tokens = torch.tensor([[START_TOKEN]])
        for _ in range(20):
            logits = model.decoder(tokens, audio)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, nxt], 1)
            if nxt.item() == END_TOKEN:
                break
        assert cached == tokens[0, 1:].tolist()
        # One cached step gives the same logits as the full pass at that position.
        cache = model.new_cache(audio, 4)
        step_logits = [model.decoder.step(tokens[:, i], i, cache) for i in range(3)]
        full = model.decoder(tokens[:, :3], audio)
        torch.testing.assert_close(torch.stack(step_logits, 1), full, atol=1e-5, rtol=1e-5)


def test_batched_decoding_equals_unbatched(model: WhisperAligner) -> None:
    mel = torch.randn(2, 80, 48)
    with torch.inference_mode():
        both = model.greedy_decode(model.embed_audio(mel), max_steps=12)
        alone = [model.greedy_decode(model.embed_audio(mel[i : i + 1]), max_steps=12)[0] for i in range(2)]
    assert both == alone


def test_log_mel_and_resampling() -> None:
    filters = slaney_mel_filters(80)
    assert filters.shape == (80, 201) and filters.dtype == np.float32
    # Slaney normalisation: each filter's area (in Hz) is 1, up to sampling on 40 Hz bins.
    assert (filters >= 0).all() and np.allclose(filters.sum(1) * 40.0, 1.0, atol=0.1)
    t = torch.arange(16000) / 16000
    mel = log_mel(0.5 * torch.sin(2 * torch.pi * 1000 * t))
    assert mel.shape == (80, 100)
    assert float(mel.max() - mel.min()) <= 2.0 + 1e-6  # floor at max − 8 in log10, then /4
    wav = np.sin(2 * np.pi * 440 * np.arange(24000) / 24000).astype(np.float32)
    out = resample(wav, 24000, 16000)
    assert out.shape == (16000,) and out.dtype == np.float32
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert float(np.abs(out - expected)[200:-200].max()) < 1e-3
    assert prompt_mel(np.zeros(24000 * 2 + 1323, dtype=np.float32)).shape == (1, 80, 200)


def test_align_reference_on_random_weights_falls_back_or_salvages(model: WhisperAligner) -> None:
    wav = np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 0.1
    result = align_reference(model, wav, max_steps=30)
    assert result.n_frames == 96
    assert int(result.durations.sum()) == result.n_frames == result.mel2ph.numel()
    assert result.ph.shape == result.tone.shape == result.durations.shape
    assert bool((result.durations >= 0).all())
    assert not result.valid and result.issues


def test_too_long_prompt_is_a_clear_error() -> None:
    config = replace(AlignerConfig.small(), n_audio_ctx=8)
    aligner = WhisperAligner(config).eval()
    with pytest.raises(ValueError, match="too long"):
        aligner.embed_audio(torch.zeros(1, 80, 32))


def test_parse_valid_sequence() -> None:
    tokens = [START_TOKEN, SIL, TS + 10, merged(20, 1), TS + 25, 120, TS + 40, 163, TS + 48, END_TOKEN]
    result = parse_alignment(tokens, 48)
    assert result.ph.tolist() == [SIL, 20, 120, 163]
    assert result.tone.tolist() == [3, 4, 3, 3]
    assert result.durations.tolist() == [10, 15, 15, 8]
    assert result.mel2ph.tolist() == [1] * 10 + [2] * 15 + [3] * 15 + [4] * 8
    assert result.valid and result.quality == 1.0 and result.issues == ()


def test_parse_fix_ups_follow_the_reference() -> None:
    short = parse_alignment([SIL, TS + 10, 120, TS + 28, END_TOKEN], 32)
    assert short.durations.tolist() == [10, 22]  # shortfall to the last phone
    assert short.valid  # within one frame group
    long = parse_alignment([SIL, TS + 10, 120, TS + 20, 121, TS + 45, END_TOKEN], 40)
    assert long.durations.tolist() == [8, 8, 24]  # 5 frames taken in turn: 2, 2, 1
    assert fit_durations(torch.tensor([0, 3, 0]), 1).tolist() == [0, 1, 0]  # never negative


def test_parse_truncated_sequence() -> None:
    result = parse_alignment([START_TOKEN, SIL, TS + 10, 120, TS + 30, 121], 40)
    assert result.ph.tolist() == [SIL, 120]
    assert result.durations.tolist() == [10, 30]
    assert not result.valid and "no end token" in result.issues


def test_parse_garbage_salvages_or_falls_back() -> None:
    messy = [START_TOKEN, 5000, 120, 121, TS + 30, TS + 31, 122, TS + 20, 790, TS + 40, END_TOKEN]
    result = parse_alignment(messy, 40)
    # 121@30, 122@20 (going back → zero length), 790 is no phone → <UNK>@40.
    assert result.ph.tolist() == [121, 122, 2]
    assert result.durations.tolist() == [30, 0, 10]
    assert result.mel2ph.tolist() == [1] * 30 + [3] * 10
    assert not result.valid and 0 < result.quality < 1
    for garbage in ([], [END_TOKEN], [TS + 5, TS + 9, 6000], [START_TOKEN, 120, 121, 122]):
        fallback = parse_alignment(garbage, 24)
        assert fallback.ph.tolist() == [SIL] and fallback.durations.tolist() == [24]
        assert fallback.mel2ph.tolist() == [1] * 24
        assert not fallback.valid and fallback.quality == 0.0
