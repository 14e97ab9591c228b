"""Parity stage: our G2P against the reference's ``g2p`` front-end function on the same ``g2p/`` folder.

Our side loads through ``G2P.load``; the reference side loads the tokenizer and model as its ``infer_cli``
does and runs its own ``g2p`` (on a stand-in for the CLI object). Compared: the prompt ids, the phones and
tones generated for a few texts (random weights never write the end token, so the reference drops the
last real phone: ours is compared without it, and must be exactly one longer), and the parse of scripted
outputs that do end with the end token: together, the stop and decode path on a scripted chain.

The model call itself is compared on live random weights of the same shape (``g2p_logits``): both sides'
``generate`` calls forced to write one phone sequence, logits at every step. Run through ``run.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import torch
from differences import Row
from g2p_logits import compare_calls, live_qwen2, phone_script, reference_call, reference_cli
from reference_code import import_reference

from megatts3_server.engines.megatts3.g2p import END_OFFSET, G2P, parse_phone_tokens
from megatts3_server.engines.megatts3.phones import split_merged

FOLDER = "g2p"
TEXTS = ("今天天气很好，我们去公园散步吧。", "Hello world, this is a test.")


class _ScriptedModel:
    """Stands in for the reference's model: ``generate`` appends a fixed continuation to the prompt."""

    def __init__(self, continuation: list[int]) -> None:
        self.continuation = continuation

    def generate(self, input_ids: torch.Tensor, **_: object) -> torch.Tensor:
        return torch.cat([input_ids, torch.tensor([self.continuation])], 1)


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[Row]:
    """One row per compared quantity."""
    import_reference(reference_root)
    from transformers import AutoTokenizer

    folder = checkpoint_root / FOLDER
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="right")
    return _compare_scripted(tokenizer, folder, device, seed) + _compare_live(tokenizer, folder, device, seed)


def _compare_live(tokenizer, folder: Path, device: str, seed: int) -> list[Row]:
    ours = live_qwen2(folder, seed + 5).to(device)
    reference = copy.deepcopy(ours)
    script = phone_script(G2P(tokenizer, ours).speech_start, seed + 6)
    return compare_calls(ours, reference, tokenizer, reference_call(tokenizer, device), TEXTS, script)


def _compare_scripted(tokenizer, folder: Path, device: str, seed: int) -> list[Row]:
    from transformers import AutoModelForCausalLM
    from tts.frontend_function import g2p as reference_g2p

    ours = G2P.load(folder, device=device)
    # transformers 5 loads in the saved dtype by default; the reference's pinned 4.x loads fp32.
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval().to(device)
    stand_in = reference_cli(tokenizer, model, device)
    results = [Row("g2p/speech start id", float(abs(ours.speech_start - stand_in.speech_start_idx)))]
    reference_prompt = tokenizer("<BOT>" + TEXTS[0] + "<BOS>")["input_ids"] + [stand_in.speech_start_idx + 145]
    same_prompt = ours.prompt_ids(TEXTS[0]) == reference_prompt
    results.append(Row("g2p/prompt ids (mismatch)", 0.0 if same_prompt else 1.0))

    generated = ours.phonemize(list(TEXTS))  # one batch, left-padded
    for index, (text, result) in enumerate(zip(TEXTS, generated, strict=True)):
        ph_ref, tone_ref = reference_g2p(stand_in, text)
        ph_ref, tone_ref = ph_ref[0].cpu(), tone_ref[0].cpu()
        kept = result.ph if result.complete else result.ph[:-1]
        if kept.shape != ph_ref.shape:
            results.append(Row(f"g2p/text {index}: phone count", float(abs(kept.numel() - ph_ref.numel()))))
            continue
        label = "" if result.complete else " (ours less its last phone: no end token)"
        # The reference passes ids outside the phone dictionary through (they would crash its duration
        # model); ours turns them into <UNK>: compare our unclamped split, then check the <UNK>s sit exactly there.
        raw_ph, _ = split_merged(result.tokens[: kept.numel()])
        real = (ph_ref >= 3) & (ph_ref < 174)
        results.append(Row(f"g2p/text {index}: split ids{label}", float((raw_ph - ph_ref).abs().max())))
        results.append(Row(f"g2p/text {index}: <UNK> exactly where no phone (count)", float((kept[~real] != 2).sum())))
        results.append(Row(f"g2p/text {index}: tones", float((result.tone[: kept.numel()] - tone_ref).abs().max())))
        print(f"g2p text {index}: {int(real.sum())} of {real.numel()} reference tokens are phones")

    start = stand_in.speech_start_idx
    generator = torch.Generator().manual_seed(seed)
    for name, body in (
        ("chinese merged", torch.randint(201, 789, (20,), generator=generator).tolist()),
        ("mixed", [*torch.randint(101, 174, (10,), generator=generator).tolist(), 200, 788, 201]),
    ):
        script = [start + t for t in body] + [start + END_OFFSET]
        ph_ref, tone_ref = reference_g2p(
            SimpleNamespace(**{**vars(stand_in), "g2p_model": _ScriptedModel(script)}), TEXTS[0]
        )
        parsed = parse_phone_tokens(script, start)
        ph_ours = parsed.ph
        difference = max(
            float((ph_ours - ph_ref[0].cpu()).abs().max()), float((parsed.tone - tone_ref[0].cpu()).abs().max())
        )
        results.append(Row(f"g2p/parse scripted {name} (+EOS): ph, tone", difference))
    return results
