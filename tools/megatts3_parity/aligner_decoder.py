"""Teacher-forced comparison of two aligner decoders on live random weights, logits at every step.

The checkpoint trees' aligner is scripted (its decoder's attention, cross-attention, MLP and positions are
zeroed so that it writes a fixed alignment), which would hide any bug in those parts. Here every weight is
random and order-one in effect, and both decoders read the same scripted token sequence of realistic length
(start token, then phone / timestamp pairs), so the comparison does not depend on which tokens a random
model would pick. Ours runs its production path (one token per step with the key/value cache, as
``greedy_decode``) and its whole-prefix pass; the reference runs its own loop (the whole prefix again at
every step, the last position's logits kept, as its ``align`` does) and its whole-prefix pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from differences import Row, tensor_row
from torch import Tensor

from megatts3_server.engines.megatts3.aligner import START_TOKEN, TIMESTAMP_OFFSET, AlignerConfig, WhisperAligner

SINUSOIDS = "encoder.positional_embedding"  # a fixed table, not a weight
SCRIPT_PAIRS = 64  # phone / timestamp pairs: 128 tokens after the start token, 129 decoding steps

# (tokens [B, T], audio features [B, A, width]) → logits [B, T, n_vocab] of the whole prefix
PrefixLogits = Callable[[Tensor, Tensor], Tensor]


def live_aligner_weights(config: AlignerConfig, seed: int) -> dict[str, Tensor]:
    """Random weights in which every part of every block counts.

    Matrices are N(0, 1/fan_in) so that queries and keys give attention patterns well away from uniform and
    every residual branch is as large as the stream it adds to; embeddings (token and learned positions) are
    N(0, 1); biases N(0, 0.1²); LayerNorm gains N(1, 0.1²). The encoder's sinusoid table is left out: each
    side computes its own (``load_live_weights``).
    """
    generator = torch.Generator().manual_seed(seed)
    state = WhisperAligner(config).state_dict()
    del state[SINUSOIDS]
    for key, value in state.items():
        noise = torch.randn(value.shape, generator=generator)
        if key.endswith(("token_embedding.weight", "decoder.positional_embedding")):
            state[key] = noise
        elif key.endswith("bias"):
            state[key] = 0.1 * noise
        elif value.ndim == 1:  # LayerNorm gains
            state[key] = 1.0 + 0.1 * noise
        else:
            state[key] = noise / math.sqrt(math.prod(value.shape[1:]))
    return state


def load_live_weights(model: torch.nn.Module, weights: dict[str, Tensor]) -> torch.nn.Module:
    """Load ``live_aligner_weights`` into our model or the reference's (every key but the sinusoid table)."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing != [SINUSOIDS] or unexpected:
        raise ValueError(f"live aligner weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


def scripted_inputs(frames: int, seed: int, pairs: int = SCRIPT_PAIRS) -> Tensor:
    """[1, 2·pairs + 1] decoder inputs: the start token, then ``pairs`` (phone, timestamp) pairs as the
    aligner writes them (phone ids below 798, end frames rising to ``frames``)."""
    generator = torch.Generator().manual_seed(seed)
    phones = torch.randint(3, 788, (pairs,), generator=generator)
    ends = torch.sort(torch.randint(1, frames + 1, (pairs,), generator=generator)).values
    body = torch.stack([phones, TIMESTAMP_OFFSET + ends], 1).flatten()
    return torch.cat([torch.tensor([START_TOKEN]), body])[None]


def our_cached_steps(model: WhisperAligner, audio: Tensor, inputs: Tensor) -> Tensor:
    """Logits [B, T, n_vocab]: one input token per step through the key/value cache (a spare slot, as in
    ``greedy_decode``)."""
    cache = model.new_cache(audio, inputs.shape[1] + 1)
    return torch.stack([model.decoder.step(inputs[:, i], i, cache) for i in range(inputs.shape[1])], 1)


def reference_loop(logits: PrefixLogits, audio: Tensor, inputs: Tensor) -> Tensor:
    """Logits [B, T, n_vocab] as the reference's decoding loop computes them: the whole prefix at every step."""
    return torch.stack([logits(inputs[:, : i + 1], audio)[:, -1] for i in range(inputs.shape[1])], 1)


def compare_decoders(
    ours: WhisperAligner, reference: PrefixLogits, audio: Tensor, inputs: Tensor, *, label: str = "aligner/live"
) -> tuple[list[Row], Tensor]:
    """Rows for our cached steps against the reference's loop and for the two whole-prefix passes, and the
    per-step max |ours − reference| of the cached steps ([T]). Both decoders read the same ``audio``."""
    steps = inputs.shape[1]
    with torch.inference_mode():
        stepped, looped = our_cached_steps(ours, audio, inputs), reference_loop(reference, audio, inputs)
        whole_ours, whole_reference = ours.decoder(inputs, audio), reference(inputs, audio)
    whole = tensor_row(f"{label} decoder logits, whole {steps}-token prefix", whole_ours, whole_reference)
    per_step = (stepped.float() - looped.float()).abs().amax(dim=(0, 2))
    rows = [tensor_row(f"{label} decoder logits, {steps} cached steps", stepped, looped), whole]
    return rows, per_step


def describe_steps(per_step: Tensor, per_line: int = 8) -> str:
    """The per-step differences as lines of ``per_line`` values, then their median and worst step."""
    values = per_step.tolist()
    lines = [
        f"  steps {start:>3}–{min(start + per_line, len(values)) - 1:>3}: "
        + " ".join(f"{v:.1e}" for v in values[start : start + per_line])
        for start in range(0, len(values), per_line)
    ]
    worst = int(per_step.argmax())
    lines.append(f"  median {per_step.median().item():.2e}, largest {values[worst]:.2e} at step {worst}")
    return "\n".join(lines)


def reference_whisper(config: AlignerConfig) -> torch.nn.Module:
    """The reference's ``Whisper`` with the sizes of ``config`` (its constructor hard-codes the published
    ones; its encoder and decoder classes take them). Needs ``import_reference`` first."""
    from tts.modules.aligner.whisper_small import AudioEncoder, TextDecoder, Whisper

    if config == AlignerConfig.full():
        return Whisper()
    model = Whisper.__new__(Whisper)
    torch.nn.Module.__init__(model)
    model.n_vocab, model.n_text_layer, model.n_text_head = config.n_vocab, config.n_text_layer, config.n_head
    model.n_text_ctx = config.n_text_ctx
    model.encoder = AudioEncoder(config.n_mels, config.n_audio_ctx, config.width, config.n_head, config.n_audio_layer)
    model.decoder = TextDecoder(config.n_vocab, config.n_text_ctx, config.width, config.n_head, config.n_text_layer)
    return model
