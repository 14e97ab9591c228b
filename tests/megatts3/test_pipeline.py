"""Pieces of the MegaTTS3 synthesis pipeline that the HTTP tests cannot see."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import torch

from megatts3_server.engines.megatts3.pipeline import (
    SamplingPlan,
    decode_after_prompt,
    g2p_text,
    match_loudness,
    piece_seeds,
)
from megatts3_server.engines.megatts3.random_weights import wavvae_weights as random_state_dict
from megatts3_server.engines.megatts3.wavvae import WavVAEConfig, WavVAEDecoder


def test_decoding_from_just_before_the_prompt_end_equals_decoding_everything() -> None:
    config = WavVAEConfig.small()
    decoder = WavVAEDecoder(config)
    decoder.load_state_dict(random_state_dict(config, seed=0))
    decoder.eval()
    latent = torch.randn(60, config.latent_dim, generator=torch.Generator().manual_seed(1))
    per_latent = config.samples_per_latent
    with torch.inference_mode():
        whole = decoder(latent[None])[0].numpy()[40 * per_latent :]
        cut = decode_after_prompt(decoder, latent, 40, per_latent)
        short_prompt = decode_after_prompt(decoder, latent, 3, per_latent)
    assert cut.shape == whole.shape
    assert np.max(np.abs(cut - whole)) < 1e-5
    assert short_prompt.shape == ((60 - 3) * per_latent,)


def test_loudness_follows_the_prompt_and_never_clips() -> None:
    rng = np.random.default_rng(0)
    quiet = (0.01 * rng.standard_normal(24000)).astype(np.float32)
    meter = pyloudnorm.Meter(24000)
    louder = match_loudness(quiet, -20.0, 24000)
    assert meter.integrated_loudness(louder.astype(np.float64)) == pytest.approx(-20.0, abs=0.1)
    capped = match_loudness(quiet, 10.0, 24000)
    assert np.max(np.abs(capped)) == pytest.approx(0.95, abs=1e-6)
    assert len(match_loudness(quiet[:100], -20.0, 24000)) == 100  # too short to measure: left as is


def _plan(**changes: object) -> SamplingPlan:
    base = dict(
        text="hello", prompt=None, duration_prompt=None, speed=1.0, time_step=32, p_w=1.6, t_w=2.5, seed=0, version="v1"
    )
    return SamplingPlan(**{**base, **changes})  # type: ignore[arg-type]


def test_piece_seeds_keep_timing_when_only_the_sampler_changes() -> None:
    timing, noise = piece_seeds(_plan())
    assert piece_seeds(_plan()) == (timing, noise)
    assert piece_seeds(_plan(p_w=2.0, time_step=8))[0] == timing
    assert piece_seeds(_plan(p_w=2.0))[1] != noise
    assert piece_seeds(_plan(text="other"))[0] != timing
    assert piece_seeds(_plan(version="v2"))[0] != timing
    assert piece_seeds(_plan(seed=None)) == (None, None)


def test_chinese_text_gets_full_width_punctuation_for_the_g2p() -> None:
    assert g2p_text("你好,世界!") == "你好，世界！"
    assert g2p_text("Hello, world!") == "Hello, world!"
