"""The MegaTTS3 diffusion transformer and its batched CFG flow sampler, on small random weights."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from megatts3_server.engines.megatts3.checkpoints import CheckpointError, load_weights, save_checkpoint  # noqa: E402
from megatts3_server.engines.megatts3.dit import (  # noqa: E402
    CHECKPOINT_NAME,
    DiT,
    DiTConfig,
    load_dit,
)
from megatts3_server.engines.megatts3.flow_sampler import (  # noqa: E402
    DiTItem,
    amo_coefficients,
    prepare_batch,
    sample_latents,
    time_schedule,
)
from megatts3_server.engines.megatts3.random_weights import dit_weights as random_state_dict  # noqa: E402
from megatts3_server.errors import SynthesisCancelledError  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = DiTConfig.small()
    path = tmp_path_factory.mktemp("ckpt") / "diffusion_transformer"
    save_checkpoint(path, CHECKPOINT_NAME, random_state_dict(config, seed=3), config.to_hparams())
    return path


@pytest.fixture(scope="module")
def model(folder: Path) -> DiT:
    return load_dit(folder)[0]


def _aligned(count: int, frames: int, g: torch.Generator) -> torch.Tensor:
    extra = torch.randint(1, count + 1, (frames - count,), generator=g)
    return torch.sort(torch.cat([torch.arange(1, count + 1), extra])).values


def make_item(seed: int, ref: tuple[int, int], seg: tuple[int, int], noise_seed: int | None = None) -> DiTItem:
    """An item with a prompt of ref = (phones, frames) and a segment of seg = (phones, frames)."""
    g = torch.Generator().manual_seed(seed)
    return DiTItem(
        prompt_latent=torch.randn(ref[1] // 4, 32, generator=g),
        ph_ref=torch.randint(3, 174, (ref[0],), generator=g),
        tone_ref=torch.randint(0, 19, (ref[0],), generator=g),
        mel2ph_ref=_aligned(ref[0], ref[1], g),
        ph=torch.randint(3, 174, (seg[0],), generator=g),
        tone=torch.randint(0, 19, (seg[0],), generator=g),
        mel2ph=_aligned(seg[0], seg[1], g),
        generator=torch.Generator().manual_seed(seed if noise_seed is None else noise_seed),
    )


def test_full_size_matches_the_published_model() -> None:
    with torch.device("meta"):
        state = DiT(DiTConfig.full()).state_dict()
    assert sum(v.numel() for v in state.values()) == 458_834_496
    assert len(state) == 484
    expected = {
        "encoder.layers.23.attention_norm.linear.weight": (6144, 1024),
        "encoder.layers.0.feed_forward.w1.weight": (2048, 1024),
        "encoder.norm.linear.weight": (2048, 1024),
        "f5_time_embed.time_mlp.2.weight": (1024, 1024),
        "local_cond_project.weight": (512, 48),
        "ph_encoder.emb.weight": (302, 1024),
        "ph_encoder.encoder.attn_layers.5.emb_rel_k": (1, 9, 256),
        "ph_encoder.pre.norm_layers.2.gamma": (1024,),
        "ph_encoder.encoder.last_ln.beta": (1024,),
        "tone_embed.weight": (32, 1024),
        "ling_pre_net.1.weight": (1024, 1024, 4),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected


def test_config_round_trip_and_official_file() -> None:
    small = DiTConfig.small()
    assert DiTConfig.from_hparams(small.to_hparams()) == small
    assert small.ffn_hidden == 256  # 2 × 64 rounded up to a multiple of 256
    # The official config.yaml carries no sizes: the reference's fixed ones apply.
    assert DiTConfig.from_hparams({"win_size": 1200, "frames_multiple": 8, "hidden_size": 256}) == DiTConfig.full()
    with pytest.raises(CheckpointError, match="win_size"):
        DiTConfig.from_hparams({"frames_multiple": 8})
    with pytest.raises(CheckpointError, match="heads"):
        DiTConfig.from_hparams({**small.to_hparams(), "dit_heads": 5})


def test_checkpoint_round_trip(folder: Path, model: DiT) -> None:
    weights = load_weights(folder, CHECKPOINT_NAME)
    state = model.state_dict()
    assert state.keys() == weights.keys()
    assert all(torch.equal(state[k], weights[k]) for k in state)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_load_names_missing_and_misshaped_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = DiTConfig.small()
    state = random_state_dict(config, seed=0)
    del state["encoder.layers.1.attention.wk.bias"]
    state["postnet.weight"] = torch.zeros(31, 64)
    save_checkpoint(tmp_path / "bad", CHECKPOINT_NAME, state, config.to_hparams())
    with pytest.raises(CheckpointError, match=r"encoder\.layers\.1\.attention\.wk\.bias") as info:
        load_dit(tmp_path / "bad")
    assert "postnet.weight" in str(info.value)

    # Keys the model does not have are named in the log and otherwise ignored (the reference loads non-strictly).
    state = random_state_dict(config, seed=0)
    state["spk_embed.weight"] = torch.zeros(3)
    save_checkpoint(tmp_path / "extra", CHECKPOINT_NAME, state, config.to_hparams())
    with caplog.at_level(logging.WARNING):
        load_dit(tmp_path / "extra")
    assert "spk_embed.weight" in caplog.text


def test_output_length_and_prompt(model: DiT) -> None:
    item = make_item(1, ref=(6, 44), seg=(5, 30))
    (latent,) = sample_latents(model, [item], steps=3)
    # 74 frames cut to 72 (a multiple of 8) → 18 latents; the first 11 are the prompt's.
    assert latent.shape == (18, 32) and latent.dtype == torch.float32
    assert torch.equal(latent[:11], item.prompt_latent)
    assert torch.isfinite(latent).all()


def test_batch_equals_alone_and_noise_follows_the_seed(model: DiT) -> None:
    specs = [(1, (6, 44), (5, 30)), (2, (3, 16), (9, 64)), (3, (10, 80), (2, 12))]
    alone = [sample_latents(model, [make_item(*s)], steps=4)[0] for s in specs]
    together = sample_latents(model, [make_item(*s) for s in reversed(specs)], steps=4)
    for single, batched in zip(alone, reversed(together), strict=True):
        assert single.shape == batched.shape
        torch.testing.assert_close(batched, single, atol=1e-4, rtol=0)
    again = sample_latents(model, [make_item(*specs[0])], steps=4)[0]
    assert torch.equal(again, alone[0])
    reseeded = sample_latents(model, [make_item(*specs[0], noise_seed=99)], steps=4)[0]
    assert not torch.allclose(reseeded[11:], alone[0][11:])


def test_phone_features_ignore_batch_padding(model: DiT) -> None:
    short, long = make_item(4, (4, 24), (3, 16)), make_item(5, (12, 96), (15, 120))
    with torch.inference_mode():
        one = prepare_batch(model, [short])
        two = prepare_batch(model, [long, short])
        a = model.encode_ling(one.phones, one.tones, one.mel2ph, one.frames)
        b = model.encode_ling(two.phones, two.tones, two.mel2ph, two.frames)
    torch.testing.assert_close(b[3:, : a.shape[1]], a, atol=1e-5, rtol=0)
    assert torch.all(b[3:, a.shape[1] :] == 0)


def test_cfg_rows(model: DiT) -> None:
    item = make_item(6, (5, 32), (4, 24))
    batch = prepare_batch(model, [item])
    phones = torch.cat([item.ph_ref, item.ph])
    assert torch.equal(batch.phones[0], phones) and torch.equal(batch.phones[1], phones)
    assert torch.all(batch.phones[2] == 301) and torch.all(batch.tones[2] == 31)
    assert set(batch.tones[0].tolist()) <= {0, 3, 4, 11, 12, 13, 14, 15}
    assert torch.equal(batch.lat_ctx[0, :8], item.prompt_latent) and not batch.lat_ctx[1:].any()
    assert batch.ctx_mask[:, :8].all() and not batch.ctx_mask[:, 8:].any()


def test_should_stop_cancels_between_steps(model: DiT) -> None:
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(SynthesisCancelledError, match="step 3 of 5"):
        sample_latents(model, [make_item(1, (6, 44), (5, 30))], steps=5, should_stop=stop)
    assert len(calls) == 3


def test_schedule_and_amo_step() -> None:
    schedule = time_schedule(32)
    assert schedule[0] == 0 and schedule[-1] == pytest.approx(1.0)
    assert torch.all(schedule[1:] > schedule[:-1])
    advance, a, b = amo_coefficients(float(schedule[-2]), float(schedule[-1]))
    assert a == pytest.approx(1.0) and b == pytest.approx(0.0)  # the last step is plain Euler
    advance, a, b = amo_coefficients(0.2, 0.3)
    assert advance == pytest.approx(0.4) and a == pytest.approx(0.5) and b > 0


def test_invalid_items_are_refused(model: DiT) -> None:
    item = make_item(1, (6, 44), (5, 30))
    too_long = replace(item, prompt_latent=torch.zeros(40, 32))
    with pytest.raises(ValueError, match="longer"):
        sample_latents(model, [too_long], steps=1)
    bad_index = replace(item, mel2ph=item.mel2ph + 1)
    with pytest.raises(ValueError, match="mel2ph"):
        sample_latents(model, [bad_index], steps=1)


def test_bfloat16_weights_run(folder: Path, model: DiT) -> None:
    half, _ = load_dit(folder, dtype=torch.bfloat16)
    item = make_item(1, (6, 44), (5, 30))
    (low,) = sample_latents(half, [item], steps=2)
    (full,) = sample_latents(model, [make_item(1, (6, 44), (5, 30))], steps=2)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - full).abs().max() < 0.1 * full.abs().max()
