"""The duration LM: config, key layout, loading the official format, prompt state, batched prediction and the
reference's post-processing of durations."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from megatts3_server.engines.megatts3.checkpoints import CheckpointError, save_checkpoint  # noqa: E402
from megatts3_server.engines.megatts3.duration_model import (  # noqa: E402
    DurationConfig,
    DurationLM,
    load_duration_lm,
)
from megatts3_server.engines.megatts3.durations import (  # noqa: E402
    DurationPrompt,
    build_prompt,
    length_regulate,
    postprocess,
    predict_durations,
    predict_tokens,
    prompt_pass,
)
from megatts3_server.engines.megatts3.random_weights import duration_weights as random_state_dict  # noqa: E402
from megatts3_server.engines.megatts3.rel_transformer import RelTransformerEncoder  # noqa: E402

HEADS = ("ar_mse", "ar")


def _folder(tmp_path: Path, head: str, seed: int = 0) -> Path:
    config = DurationConfig.small(head)
    folder = tmp_path / head / "duration_lm"
    save_checkpoint(folder, "dur_model", random_state_dict(config, seed), config.to_hparams())
    return folder


@pytest.fixture(scope="module", params=HEADS)
def model(request, tmp_path_factory) -> DurationLM:
    loaded, _ = load_duration_lm(_folder(tmp_path_factory.mktemp("dur"), request.param))
    return loaded


def _sequence(seed: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    phones = torch.randint(3, 174, (length,), generator=g)
    tones = torch.randint(3, 16, (length,), generator=g)
    durations = torch.randint(0, 40, (length,), generator=g)
    return phones, tones, durations


def test_full_config_has_the_published_parameter_count_and_layout():
    with torch.device("meta"):
        full = DurationLM(DurationConfig.full())
    assert sum(p.numel() for p in full.parameters()) == 66_963_457
    shapes = {key: tuple(value.shape) for key, value in full.state_dict().items()}
    assert shapes["project_out_dim.0.weight"] == (1, 512)
    assert shapes["code_emb.weight"] == (130, 512)
    assert shapes["ling_label_embed_layers.tone.weight"] == (23, 512)
    assert shapes["layers.7.op.self_attn.in_proj_weight"] == (1536, 512)
    assert shapes["layers.0.op.ffn.ffn_1.1.weight"] == (2048, 512, 1)
    assert shapes["encoder.encoder.attn_layers.3.emb_rel_k"] == (1, 9, 256)
    assert shapes["encoder.pre.norm_layers.2.gamma"] == (512,)
    assert shapes["char_encoder.emb.weight"] == (15000, 512)
    with torch.device("meta"):
        classifier = DurationLM(DurationConfig.full("ar"))
    assert tuple(classifier.state_dict()["project_out_dim.weight"].shape) == (129, 512)


@pytest.mark.parametrize("head", HEADS)
def test_config_round_trip_and_required_keys(head):
    config = DurationConfig.small(head)
    hp = config.to_hparams()
    assert DurationConfig.from_hparams(hp) == config
    with pytest.raises(CheckpointError, match="dur_model_layers"):
        DurationConfig.from_hparams({k: v for k, v in hp.items() if k != "dur_model_layers"})
    with pytest.raises(CheckpointError, match="use_rot_embed"):
        DurationConfig.from_hparams({**hp, "use_rot_embed": False})
    with pytest.raises(CheckpointError, match="encoder_type"):
        DurationConfig.from_hparams({**hp, "encoder_type": "fft"})
    defaults = {k: v for k, v in hp.items() if k not in ("char_dict_size", "lm_bias")}
    assert DurationConfig.from_hparams(defaults).char_dict_size == 4000  # the reference's own default


@pytest.mark.parametrize("head", HEADS)
def test_save_load_round_trip(tmp_path, head):
    folder = _folder(tmp_path, head, seed=3)
    loaded, config = load_duration_lm(folder)
    assert config == DurationConfig.small(head)
    expected = random_state_dict(config, 3)
    assert set(loaded.state_dict()) == set(expected)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expected.items())
    assert not loaded.training


def test_strict_loading_names_keys_and_head(tmp_path):
    config = DurationConfig.small()
    weights = random_state_dict(config, 0)
    weights.pop("layers.1.op.layer_norm2.bias")
    weights["layers.9.op.extra"] = torch.zeros(1)
    save_checkpoint(tmp_path / "broken", "dur_model", weights, config.to_hparams())
    with pytest.raises(CheckpointError, match=r"layers\.1\.op\.layer_norm2\.bias.*layers\.9\.op\.extra"):
        load_duration_lm(tmp_path / "broken")
    save_checkpoint(
        tmp_path / "head", "dur_model", random_state_dict(config, 0), {**config.to_hparams(), "dur_model_type": "ar"}
    )
    with pytest.raises(CheckpointError, match="dur_model_type='ar'"):
        load_duration_lm(tmp_path / "head")


def test_encoder_ignores_padding():
    torch.manual_seed(0)
    encoder = RelTransformerEncoder(20, 16, 32, 2, 2, 3).eval()
    tokens = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 0, 0]])
    with torch.inference_mode():
        both = encoder(tokens)
        alone = encoder(tokens[1:, :4])
    torch.testing.assert_close(both[1, :4], alone[0], atol=1e-5, rtol=1e-5)
    assert both[1, 4:].abs().max() == 0


def test_prompt_pass_equals_cached_step_by_step(model):
    """The parallel teacher-forced prompt pass equals feeding the same tokens one step at a time."""
    phones, tones, durations = _sequence(1, 9)
    with torch.inference_mode():
        prompt, outputs = prompt_pass(model, phones, tones, durations)
        tokens = durations.clamp(max=127) + 1
        prev = torch.cat((torch.tensor([model.bos_token]), tokens[:-1]))
        x_ling = model.encode(phones[None], tones[None])
        shape = (len(model.layers), 1, 8, 9, model.config.dur_model_hidden_size // 8)
        cache = (torch.zeros(shape), torch.zeros(shape))
        mask = torch.zeros(1, 9, dtype=torch.bool)
        for step in range(9):
            mask[0, step] = True
            h = model.step_input(prev[None, step : step + 1], x_ling[:, step : step + 1], torch.tensor([[step]]))
            out, _, _ = model.decode(h, torch.tensor([[step]]), cache, mask, step)
            torch.testing.assert_close(model.head(out)[0, 0], outputs[step], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cache[0][:, 0], prompt.keys, atol=1e-5, rtol=1e-5)
    assert prompt.last_token == int(tokens[-1]) and prompt.length == 9


def test_batched_prediction_equals_one_by_one(model):
    phones, tones, durations = _sequence(2, 30)
    with torch.inference_mode():
        prompts = [build_prompt(model, phones, tones, durations), build_prompt(model, *_sequence(3, 11))]
        segments = [(phones[:7], tones[:7]), (phones[4:20], tones[4:20]), (phones[2:4], tones[2:4])]
        rows = [prompts[0], prompts[1], prompts[0]]
        batched = predict_tokens(model, rows, segments)
        alone = [predict_tokens(model, [p], [s])[0] for p, s in zip(rows, segments, strict=True)]
    for b, a in zip(batched, alone, strict=True):
        assert torch.equal(b, a)
    assert [len(b) for b in batched] == [7, 16, 2]
    assert all(int(b[1:].min()) >= 1 for b in batched)  # only the first step may emit token 0


def test_prediction_is_deterministic_under_a_seed_and_serialisable(model):
    phones, tones, durations = _sequence(4, 20)
    segments = [(phones[:12], tones[:12]), (phones[8:], tones[8:])]
    kwargs = {"is_first": [True, False], "is_final": [False, True], "speed": 1.0, "dur_disturb": 0.1}
    with torch.inference_mode():
        prompt = build_prompt(model, phones, tones, durations)
        first = predict_durations(
            model, prompt, segments, generator=torch.Generator().manual_seed(7), top_k=3, **kwargs
        )
        again = predict_durations(
            model, prompt, segments, generator=torch.Generator().manual_seed(7), top_k=3, **kwargs
        )
        restored = DurationPrompt.from_arrays(prompt.to_arrays(), device="cpu", dtype=torch.float32)
        third = predict_durations(
            model, restored, segments, generator=torch.Generator().manual_seed(7), top_k=3, **kwargs
        )
    for a, b, c in zip(first, again, third, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
        assert a.dtype == torch.long and int(a.sum()) % 8 == 0 and int(a.min()) >= 0
    assert int(first[0][0]) == 8  # the first segment's leading sil


def test_postprocess_on_scripted_tokens():
    phones = torch.tensor([145, 50, 163, 60, 148])
    tokens = torch.tensor([3, 11, 5, 21, 41])  # frames 2, 10, 4, 20, 40
    first_final = postprocess(tokens, phones, is_first=True, is_final=True, dur_alpha=1.0, dur_disturb=0.0)
    # final last phone clamped to ≥ 64, pauses ≥ 64 / 32, first phone 8, total padded to 136
    assert first_final.tolist() == [8, 10, 32, 20, 66]
    middle = postprocess(tokens, phones, is_first=False, is_final=False, dur_alpha=0.5, dur_disturb=0.0)
    # last phone + 32 crossfade room, halved by speed 2, pauses raised, total padded to 176
    assert middle.tolist() == [64, 5, 32, 10, 65]
    jittered = postprocess(
        torch.full((200,), 51), torch.full((200,), 50), is_first=False, is_final=False, dur_alpha=1.0,
        dur_disturb=0.1, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert 45 <= int(jittered[:-1].min()) < 50 < int(jittered[:-1].max()) <= 55


def test_predict_durations_speed_and_validation(model):
    phones, tones, durations = _sequence(5, 16)
    with torch.inference_mode():
        prompt = build_prompt(model, phones, tones, durations)
        segment = [(phones[:10], tones[:10])]
        normal = predict_durations(model, prompt, segment, is_first=[False], is_final=[True], dur_disturb=0.0)[0]
        fast = predict_durations(model, prompt, segment, is_first=[False], is_final=[True], speed=2.0, dur_disturb=0.0)[
            0
        ]
        assert int(fast.sum()) < int(normal.sum())
        with pytest.raises(ValueError, match="≥ 1"):
            predict_durations(
                model, prompt, [(torch.tensor([5, 0]), torch.tensor([3, 3]))], is_first=[True], is_final=[True]
            )
        with pytest.raises(ValueError, match="one value per segment"):
            predict_durations(model, prompt, segment, is_first=[True, False], is_final=[True])


def test_length_regulate():
    assert length_regulate(torch.tensor([2, 0, 3])).tolist() == [1, 1, 3, 3, 3]
    assert length_regulate(torch.tensor([0])).numel() == 0


def test_small_config_runs_in_half_precision_without_nan(tmp_path):
    loaded, _ = load_duration_lm(_folder(tmp_path, "ar_mse"), dtype=torch.bfloat16)
    phones, tones, durations = _sequence(6, 12)
    with torch.inference_mode():
        prompt, outputs = prompt_pass(loaded, phones, tones, durations)
        tokens = predict_tokens(loaded, [prompt], [(phones[:5], tones[:5])])[0]
    assert prompt.keys.dtype == torch.bfloat16 and torch.isfinite(outputs).all()
    assert tokens.shape == (5,)
