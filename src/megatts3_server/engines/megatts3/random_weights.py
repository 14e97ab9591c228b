"""Random weights of the full MegaTTS3 architecture in the official checkpoints' layouts, for tests and
benchmarks (random_checkpoints.py writes them as checkpoint folders). Each is deterministic in its
seed and scaled so that activations stay finite through the full-size stacks: PyTorch's default
init would overflow fp16 or saturate the output.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from megatts3_server.engines.megatts3.aligner import AlignerConfig, WhisperAligner
from megatts3_server.engines.megatts3.dit import DiT, DiTConfig
from megatts3_server.engines.megatts3.duration_model import DurationConfig, DurationLM
from megatts3_server.engines.megatts3.rel_transformer import ChannelLayerNorm
from megatts3_server.engines.megatts3.wavvae import WavVAEConfig, WavVAEDecoder


def dit_weights(config: DiTConfig, seed: int) -> dict[str, Tensor]:
    """Random weights in the official layout, for tests and benchmarks.

    Every tensor is N(0, 0.02²) (LayerNorm gains N(1, 0.02²)), biases included so that no term vanishes:
    PyTorch's default init makes 24 full-size layers overflow fp16 and grows activations a lot in fp32.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in DiT(config).state_dict().items()}
    state = {}
    for key, shape in shapes.items():
        value = torch.randn(shape, generator=generator) * 0.02
        state[key] = value + 1.0 if key.endswith(".gamma") else value
    return state


def duration_weights(config: DurationConfig, seed: int) -> dict[str, Tensor]:
    """Random weights in the checkpoint's layout, for tests and benchmarks.

    Every matrix/embedding is N(0, 0.02²) (the padding rows zero) and every LayerNorm is the identity, so
    activations stay finite through the full-size stack; biases are small random values. The head is wider
    (see below).
    """
    generator = torch.Generator().manual_seed(seed)
    model = DurationLM(config)
    ones, zeros = set(), set()
    for name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            ones.add(f"{name}.weight")
            zeros.add(f"{name}.bias")
        elif isinstance(module, ChannelLayerNorm):
            ones.add(f"{name}.gamma")
            zeros.add(f"{name}.beta")
    state = {}
    for key, value in model.state_dict().items():
        if key in ones:
            state[key] = torch.ones_like(value)
        elif key in zeros or key.endswith("_float_tensor"):
            state[key] = torch.zeros_like(value)
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.02
    # The head gets a wider spread so random models predict varied, speech-like durations (about 12 ± 6
    # frames for the regressor, logits of std 3 for the classifier) instead of near-constant ones.
    dec = config.dur_model_hidden_size
    if config.is_regression:
        state["project_out_dim.0.weight"] = torch.randn(1, dec, generator=generator) * (6.0 / math.sqrt(dec))
        state["project_out_dim.0.bias"] = torch.full((1,), 12.0)
    else:
        state["project_out_dim.weight"] *= 150.0 / math.sqrt(dec)
    for key in ("encoder.emb.weight", "char_encoder.emb.weight", "code_emb.weight"):
        if key in state:
            state[key][0] = 0.0
    for key in state:
        if key.startswith("ling_label_embed_layers.") and key.endswith(".weight"):
            state[key][0] = 0.0
    return state


def aligner_weights(config: AlignerConfig, seed: int) -> dict[str, torch.Tensor]:
    """Random weights of the right keys and shapes (normal, std 0.02 — the default init would make the
    full-size stack's activations grow large; LayerNorms at identity, biases zero)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperAligner(config)
        for name, tensor in model.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(tensor)
            elif name.endswith(("ln.weight", "ln_post.weight")):
                nn.init.ones_(tensor)
            else:
                nn.init.normal_(tensor, std=0.02)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def wavvae_weights(config: WavVAEConfig, seed: int) -> dict[str, Tensor]:
    """Random decoder weights in the official key layout (``weight_g`` / ``weight_v``), deterministic in ``seed``.

    Not PyTorch's default init: each weight-norm magnitude ``weight_g`` is drawn in [0.3, 0.7] so that every conv
    roughly keeps (or shrinks) the signal scale independently of its width; with the default init the full-size
    generator's activations grow by orders of magnitude and the Tanh output is saturated everywhere.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in WavVAEDecoder(config).state_dict().items()}
    weights: dict[str, Tensor] = {}
    for key, shape in shapes.items():
        if key.endswith("weight_g"):
            value = 0.3 + 0.4 * torch.rand(shape, generator=generator)
        elif key.endswith("weight_v"):
            value = torch.randn(shape, generator=generator)
        elif key.endswith("bias"):
            value = 0.02 * torch.randn(shape, generator=generator)
        else:  # plain weights: proj_to_decoder and the 1×1 output conv without Tanh
            value = torch.randn(shape, generator=generator) / math.sqrt(math.prod(shape[1:]))
        weights[key] = value
    return weights
