"""The WaveVAE decoder: config, shapes, weight-norm handling and loading the official checkpoint layout."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from megatts3_server.engines.megatts3.checkpoints import CheckpointError, save_checkpoint  # noqa: E402
from megatts3_server.engines.megatts3.random_weights import wavvae_weights as random_state_dict  # noqa: E402
from megatts3_server.engines.megatts3.wavvae import (  # noqa: E402
    WavVAEConfig,
    WavVAEDecoder,
    load_wavvae_decoder,
)

SMALL = WavVAEConfig.small()
CPU = torch.device("cpu")
# The keys and values of the published wavvae/config.yaml that the decoder reads.
PUBLISHED_HPARAMS = {
    "melgan_config": {"frame_shift": 240, "use_tanh": True},
    "vae_stride": 4,
    "hop_size": 240,
    "win_size": 1200,
    "frames_multiple": 8,
    "audio_sample_rate": 24000,
}


def _latent(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, SMALL.latent_dim, generator=torch.Generator().manual_seed(seed))


def _model(config: WavVAEConfig = SMALL, seed: int = 0) -> WavVAEDecoder:
    model = WavVAEDecoder(config).eval()
    model.load_state_dict(random_state_dict(config, seed), strict=True)
    return model


def _write(folder: Path, weights: dict[str, torch.Tensor], filename: str = "decoder.ckpt") -> Path:
    save_checkpoint(folder, "model_gen", weights, SMALL.to_hparams(), filename=filename)
    return folder


def test_published_config_is_the_full_model():
    config = WavVAEConfig.from_hparams(PUBLISHED_HPARAMS)
    assert config == WavVAEConfig.full()
    assert config.samples_per_latent == 960
    assert config.sample_rate == 24000


@pytest.mark.parametrize("config", [WavVAEConfig.full(), SMALL])
def test_config_round_trips_through_hparams(config):
    assert WavVAEConfig.from_hparams(config.to_hparams()) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hop_size": None}, "hop_size"),
        ({"melgan_config": {"frame_shift": 240}}, "use_tanh"),
        ({"wavvae_ratios": [5, 4, 4]}, "samples per latent"),
        ({"wavvae_proj_dim": 15}, "even"),
        ({"wavvae_ngf": "wide"}, "bad WaveVAE setting"),
    ],
)
def test_bad_config_is_refused(change, message):
    hp = {**PUBLISHED_HPARAMS, **change}
    hp = {key: value for key, value in hp.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        WavVAEConfig.from_hparams(hp)


def test_full_size_matches_the_published_parameter_count():
    with torch.device("meta"):
        model = WavVAEDecoder(WavVAEConfig.full())
    assert sum(p.numel() for p in model.parameters()) == 226_081_634


def test_official_key_layout():
    shapes = {key: tuple(value.shape) for key, value in random_state_dict(SMALL, 0).items()}
    # The legacy weight norm keeps dim 0: the input channels of a transposed conv.
    assert shapes["latent_upsampler.trans_upsample.1.weight_g"] == (16, 1, 1)
    assert shapes["latent_upsampler.trans_upsample.1.weight_v"] == (16, 8, 10)
    assert shapes["latent_upsampler.upsample.3.weight_g"] == (8, 1, 1)
    assert shapes["decoder.model_up.1.weight_v"] == (64, 8, 7)
    assert shapes["decoder.model_up.3.block3.convs1.2.weight_v"] == (32, 32, 11)
    assert shapes["decoder.model_up.12.weight_v"] == (1, 4, 7)
    assert "decoder.model_up.13.weight" not in shapes  # Tanh has no parameters
    untanh = random_state_dict(replace(SMALL, use_tanh=False), 0)
    assert untanh["decoder.model_up.13.weight"].shape == (1, 1, 1)


def test_weight_norm_matches_torch_legacy_weight_norm():
    ours = WavVAEDecoder(SMALL).latent_upsampler.trans_upsample[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        legacy = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(16, 8, 10, stride=4, padding=3))
    legacy.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, 16, 5)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), legacy(x))


def test_decodes_960_samples_per_latent():
    with torch.inference_mode():
        audio = _model()(_latent(2, 3))
    assert audio.shape == (2, 3 * 960)
    assert audio.dtype == torch.float32
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1
    assert audio.std() > 1e-3


def test_without_tanh_a_1x1_conv_ends_the_generator():
    config = replace(SMALL, use_tanh=False)
    with torch.inference_mode():
        assert _model(config)(_latent(1, 2)).shape == (1, 2 * 960)


def test_one_latent_is_enough():
    with torch.inference_mode():
        assert _model()(_latent(1, 1)).shape == (1, 960)


def test_wrong_latent_shape_is_refused():
    with pytest.raises(ValueError, match="latent must be"):
        _model()(torch.zeros(1, 3, 16))


def test_batch_rows_equal_single_decodes():
    model = _model()
    latent = _latent(3, 4)
    with torch.inference_mode():
        batched = model(latent)
        single = torch.cat([model(latent[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-6)


def test_folding_weight_norm_keeps_the_output():
    model = _model()
    latent = _latent(1, 4)
    with torch.inference_mode():
        before = model(latent)
        model.fold_weight_norm()
        after = model(latent)
    assert not any(key.endswith(("weight_g", "weight_v")) for key in model.state_dict())
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


def test_random_weights_are_deterministic_in_the_seed():
    first, again, other = (random_state_dict(SMALL, seed) for seed in (3, 3, 4))
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["decoder.model_up.1.weight_v"], other["decoder.model_up.1.weight_v"])


def test_loads_the_public_decoder_checkpoint(tmp_path):
    weights = random_state_dict(SMALL, 1)
    model, config = load_wavvae_decoder(_write(tmp_path / "wavvae", weights), device=CPU, dtype=torch.float32)
    assert config == SMALL
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    reference = _model(seed=1)
    latent = _latent(1, 3)
    with torch.inference_mode():
        torch.testing.assert_close(model(latent), reference(latent), rtol=0, atol=1e-6)


def test_training_checkpoint_encoder_keys_are_skipped(tmp_path):
    weights = {
        **{f"module.{key}": value for key, value in random_state_dict(SMALL, 2).items()},
        "encoder.encoder.model.0.conv.conv.weight_v": torch.zeros(32, 1, 7),
        "proj_to_z.weight": torch.zeros(64, 512),
    }
    folder = _write(tmp_path / "wavvae", weights, filename="model_only_last.ckpt")
    model, _ = load_wavvae_decoder(folder, device=CPU, dtype=torch.float32)
    with torch.inference_mode():
        torch.testing.assert_close(model(_latent(1, 2)), _model(seed=2)(_latent(1, 2)), rtol=0, atol=1e-6)


def test_missing_decoder_key_is_named(tmp_path):
    weights = random_state_dict(SMALL, 0)
    del weights["decoder.model_up.5.block2.convs2.1.weight_g"]
    with pytest.raises(CheckpointError, match=r"missing: decoder\.model_up\.5\.block2\.convs2\.1\.weight_g"):
        load_wavvae_decoder(_write(tmp_path / "wavvae", weights), device=CPU, dtype=torch.float32)


def test_unknown_key_and_wrong_shape_are_named(tmp_path):
    weights = random_state_dict(SMALL, 0)
    weights["decoder.model_up.99.weight"] = torch.zeros(1)
    weights["proj_to_decoder.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as caught:
        load_wavvae_decoder(_write(tmp_path / "wavvae", weights), device=CPU, dtype=torch.float32)
    assert "decoder.model_up.99.weight" in str(caught.value)
    assert "proj_to_decoder.bias (7,)" in str(caught.value)


def test_bad_config_names_the_file(tmp_path):
    folder = _write(tmp_path / "wavvae", random_state_dict(SMALL, 0))
    (folder / "config.yaml").write_text("melgan_config: {use_tanh: true}\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"config\.yaml.*frame_shift"):
        load_wavvae_decoder(folder, device=CPU, dtype=torch.float32)


def test_loads_in_bfloat16(tmp_path):
    folder = _write(tmp_path / "wavvae", random_state_dict(SMALL, 0))
    model, _ = load_wavvae_decoder(folder, device=CPU, dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    latent = _latent(1, 2)
    with torch.inference_mode():
        audio = model(latent)
        exact = _model()(latent)
    assert audio.dtype == torch.float32
    assert math.isclose(float((audio - exact).abs().max()), 0, abs_tol=0.05 * float(exact.abs().max()) + 1e-3)
