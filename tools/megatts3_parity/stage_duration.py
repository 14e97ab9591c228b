"""Parity of our duration LM with the reference's ``ARDurPredictor`` and its front-end functions.

Our side loads through ``load_duration_lm``; the reference side builds ``ARDurPredictor`` from its own
``set_hparams`` and loads with its own ``load_ckpt`` as its ``infer_cli`` does, then runs its own
``make_dur_prompt`` / ``ARDurPredictor.infer`` / ``dur_pred`` (on a stand-in for the CLI object). Both sides
get the same seeded phones, tones and reference durations; the jitter draws come from the same seed.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from pathlib import Path
from types import SimpleNamespace

import torch
from differences import Row, tensor_row
from reference_code import import_reference

from megatts3_server.engines.megatts3.duration_model import (
    CHECKPOINT_NAME,
    PHONE_VOCAB,
    apply_rope,
    load_duration_lm,
    rope_tables,
)
from megatts3_server.engines.megatts3.durations import (
    FRAMES_MULTIPLE,
    length_regulate,
    postprocess,
    predict_tokens,
    prompt_pass,
)

FOLDER = "duration_lm"
PROMPT_PHONES = 40
SEGMENT_PHONES = 24


def _reference(reference_root: Path, folder: Path, device: str) -> tuple[torch.nn.Module, dict]:
    import_reference(reference_root)
    from tts.modules.ar_dur.ar_dur_predictor import ARDurPredictor
    from tts.utils.commons.ckpt_utils import load_ckpt
    from tts.utils.commons.hparams import set_hparams

    hp = set_hparams(str(folder / "config.yaml"), global_hparams=False, print_hparams=False)
    model = ARDurPredictor(
        hp, hp["dur_txt_hs"], hp["dur_model_hidden_size"], hp["dur_model_layers"], PHONE_VOCAB,
        hp["dur_code_size"], use_rot_embed=hp.get("use_rot_embed", False),
    )  # fmt: skip
    load_ckpt(model, str(folder), CHECKPOINT_NAME)
    return model.eval().to(device), hp


def _inputs(seed: int, length: int, first_sil: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    phones = torch.randint(3, PHONE_VOCAB, (length,), generator=g)
    tones = torch.randint(3, 16, (length,), generator=g)
    if first_sil:
        phones[0], tones[0] = 145, 3
    phones[length // 2] = 163  # a comma, to exercise the pause minimums
    return phones, tones


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[Row]:
    """Rows for the encoder output, the prompt pass's per-step outputs, the
    raw predicted tokens, and the final frames per phone with and without jitter (as mel2ph)."""
    folder = checkpoint_root / FOLDER
    ours, config = load_duration_lm(folder, device=device, dtype=torch.float32)
    reference, hp = _reference(reference_root, folder, device)
    from tts.frontend_function import dur_pred, make_dur_prompt
    from tts.modules.ar_dur.commons.nar_tts_modules import LengthRegulator

    cli = SimpleNamespace(
        dur_model=reference, hp_dur_model=hp, device=device, precision=torch.float32, fm=FRAMES_MULTIPLE,
        length_regulator=LengthRegulator(),
    )  # fmt: skip
    ph_ref, tone_ref = _inputs(seed, PROMPT_PHONES, first_sil=True)
    dur_ref = torch.randint(0, 40, (PROMPT_PHONES,), generator=torch.Generator().manual_seed(seed + 1))
    dur_ref[3] = 150  # beyond the code table: exercises the clamp
    ph, tone = _inputs(seed + 2, SEGMENT_PHONES, first_sil=True)
    results: list[Row] = []

    def record(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        results.append(tensor_row(f"duration.{name}", a, b))

    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's torch.cuda.amp.autocast on a CPU run
        on = {"device": device}
        record(
            "encoder",
            ours.encode(ph[None].to(**on), tone[None].to(**on)),
            reference.forward_ling_encoder(ph[None].to(**on), {"tone": tone[None].to(**on)}, *[None] * 6),
        )
        prompt, prompt_out = prompt_pass(ours, ph_ref, tone_ref, dur_ref)
        mel2ph_ref = length_regulate(dur_ref)[None].to(device)
        state, ctx = make_dur_prompt(cli, mel2ph_ref, ph_ref[None].to(**on), tone_ref[None].to(**on))
        # the prompt's per-step outputs: the reference's own infer, teacher-forced on the same tokens
        probe: dict = {}
        _, probs = reference.infer(
            ph_ref[None].to(**on), {"tone": tone_ref[None].to(**on)}, None, None, None, incremental_state=probe,
            ctx_vqcodes=ctx, spk_pos_ids_flat=torch.arange(ctx.shape[1], device=device)[None], return_probs=True,
        )  # fmt: skip
        record("prompt_outputs", prompt_out, probs[0])
        attn_states = [v for k, v in state.items() if k.endswith(".attn_state")]
        # the reference caches unrotated keys; ours are rotated at their positions 0…P−1
        cos, sin = rope_tables(torch.arange(prompt.length)[None, None], prompt.keys.shape[-1])
        ref_keys = torch.stack([apply_rope(v["prev_key"][0].cpu(), cos[0], sin[0]) for v in attn_states])
        record("prompt_keys", prompt.keys, ref_keys)
        record("prompt_values", prompt.values, torch.stack([v["prev_value"][0] for v in attn_states]))
        record("prompt_last_token", torch.tensor([prompt.last_token]), ctx[0, -1:])

        (tokens,) = predict_tokens(ours, [prompt], [(ph, tone)])
        ref_tokens = reference.infer(
            ph[None].to(**on), {"tone": tone[None].to(**on)}, None, None, None, incremental_state=deepcopy(state),
            first_decoder_inp=ctx[:, -1:],
            spk_pos_ids_flat=torch.arange(ctx.shape[1], ctx.shape[1] + SEGMENT_PHONES, device=device)[None],
        )  # fmt: skip
        record("tokens", tokens, ref_tokens[0])

        for disturb, first, final in ((0.0, True, False), (0.1, True, True), (0.1, False, False)):
            torch.manual_seed(seed + 3)
            ref_mel2ph = dur_pred(
                cli, ctx, state, ph[None].to(**on), tone[None].to(**on), 0, disturb, 0.8, is_first=first,
                is_final=final,
            )[0]  # fmt: skip
            frames = postprocess(
                tokens, ph, is_first=first, is_final=final, dur_alpha=0.8, dur_disturb=disturb,
                generator=torch.Generator().manual_seed(seed + 3), code_size=config.dur_code_size,
            )  # fmt: skip
            tag = f"mel2ph[disturb={disturb},first={first},final={final}]"
            record(tag, length_regulate(frames), ref_mel2ph)
    return results
