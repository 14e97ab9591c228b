"""LayerNorm in fp32 whatever the model's dtype, as the reference computes it (under autocast): the
one implementation the aligner, duration model, DiT and prenets share."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def layer_norm_fp32(
    x: Tensor, shape: tuple[int, ...], weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Statistics and affine in fp32; the result stays fp32 (callers cast back where the reference does)."""
    return F.layer_norm(
        x.float(), shape, None if weight is None else weight.float(), None if bias is None else bias.float(), eps
    )


def layer_fp32(layer: nn.LayerNorm, x: Tensor) -> Tensor:
    """``layer`` applied in fp32, returned in ``x``'s dtype."""
    return layer_norm_fp32(x, tuple(layer.normalized_shape), layer.weight, layer.bias, layer.eps).to(x.dtype)
