"""Teacher-forced comparison of the two G2P generation calls on live random Qwen2 weights, logits at every step.

A random-weight tree's G2P is scripted to write a fixed chain whatever the text (its attention and MLP outputs
are zeroed), so comparing its output checks the parsing but not the model call. Here both sides get the same
live random Qwen2 (the shape of a ``g2p/config.json``), each wrapped so that its own ``generate`` call — with
that side's arguments, padding, mask, cache and stop tokens — is forced to write one phone sequence while the
raw logits of every step are kept. Ours phonemizes the texts in one left-padded batch, the reference one text
per call, as each really does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from differences import Row, tensor_row
from torch import Tensor

from megatts3_server.engines.megatts3.g2p import END_OFFSET, G2P

SCRIPT_LENGTH = 40  # phone tokens before the end token: about a sentence

# (a model to call generate on, a text) → (phone ids, tone ids) as that side returns them
G2PCall = Callable[[Any, str], tuple[Tensor, Tensor]]


def reference_cli(tokenizer: Any, model: Any, device: str = "cpu") -> SimpleNamespace:
    """A stand-in for the reference's CLI object, holding what its ``g2p`` reads."""
    return SimpleNamespace(
        g2p_tokenizer=tokenizer,
        g2p_model=model,
        speech_start_idx=tokenizer.encode("<Reserved_TTS_0>")[0],
        device=device,
        precision=torch.float16 if str(device).startswith("cuda") else torch.float32,
    )


def reference_call(tokenizer: Any, device: str = "cpu") -> G2PCall:
    """The reference's own ``g2p`` function as a ``G2PCall`` (needs ``import_reference`` first)."""
    from tts.frontend_function import g2p

    return lambda model, text: g2p(reference_cli(tokenizer, model, device), text)


def live_qwen2(folder: Path, seed: int) -> torch.nn.Module:
    """A Qwen2 of the shape in ``folder/config.json`` with random weights in which every part counts: matrices
    N(0, 1/fan_in) (attention patterns well away from uniform, branches as large as the stream), biases
    N(0, 0.1²), RMSNorm gains N(1, 0.1²). The shared input/output embedding is a matrix like the others."""
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith("bias"):
                parameter.copy_(0.1 * noise)
            elif parameter.ndim == 1:
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter.shape[1]))
    return model.eval()


def phone_script(speech_start: int, seed: int, length: int = SCRIPT_LENGTH) -> list[int]:
    """Tokenizer ids of a plausible phone sequence (Mandarin syllables with tones merged in, English phones, a
    comma), then the end token."""
    generator = torch.Generator().manual_seed(seed)
    relative = torch.where(
        torch.rand(length, generator=generator) < 0.6,
        torch.randint(201, 789, (length,), generator=generator),
        torch.randint(101, 174, (length,), generator=generator),
    )
    relative[length // 2] = 163
    return [speech_start + int(t) for t in relative] + [speech_start + END_OFFSET]


class _ForceScript:
    """A logits processor that makes generation write ``script`` whatever the model prefers."""

    def __init__(self, script: Sequence[int]) -> None:
        self.script = list(script)
        self.prompt_length: int | None = None

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        step = min(input_ids.shape[1] - self.prompt_length, len(self.script) - 1)
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.script[step]] = 0.0
        return forced


class ForcedModel:
    """Wraps a causal LM for a G2P call: its ``generate`` (called with that side's own arguments) writes
    ``script`` and keeps ``logits`` [B, steps, vocab], the raw scores of every step; the rest is the model's."""

    def __init__(self, model: Any, script: Sequence[int]) -> None:
        self.model, self.script = model, script
        self.logits: Tensor | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def generate(self, *args: Any, **kwargs: Any) -> Tensor:
        """The model's ``generate`` with the forcing processor and the raw logits added; returns the ids."""
        from transformers import LogitsProcessorList

        out = self.model.generate(
            *args,
            **kwargs,
            logits_processor=LogitsProcessorList([_ForceScript(self.script)]),
            output_logits=True,
            return_dict_in_generate=True,
        )
        self.logits = torch.stack(out.logits, 1)
        return out.sequences


def compare_calls(
    ours: Any, reference: Any, tokenizer: Any, reference_call: G2PCall, texts: Sequence[str], script: Sequence[int]
) -> list[Row]:
    """Per text, rows for the logits of every forced step (ours from one batch of ``texts``, the reference from
    ``reference_call`` on that text alone) and for the phones and tones each side read back."""
    forced_ours = ForcedModel(ours, script)
    g2p = G2P(tokenizer, forced_ours)
    with torch.inference_mode():
        results = g2p.phonemize(texts)
    assert forced_ours.logits is not None
    width = max(len(g2p.prompt_ids(text)) for text in texts)
    rows = []
    for index, (text, result) in enumerate(zip(texts, results, strict=True)):
        forced_reference = ForcedModel(reference, script)
        with torch.inference_mode():
            ph_ref, tone_ref = reference_call(forced_reference, text)
        assert forced_reference.logits is not None
        padded = " left-padded" if len(g2p.prompt_ids(text)) < width else ""
        steps = forced_reference.logits.shape[1]
        name = f"g2p/live logits, text {index}{padded}, {steps} forced steps"
        rows.append(tensor_row(name, forced_ours.logits[index], forced_reference.logits[0]))
        ph_ref, tone_ref = ph_ref.reshape(-1).cpu(), tone_ref.reshape(-1).cpu()
        same = result.complete and torch.equal(result.ph, ph_ref) and torch.equal(result.tone, tone_ref)
        rows.append(Row(f"g2p/live forced phones and tones, text {index} (mismatch)", 0.0 if same else 1.0))
    return rows
