"""The parity tool's unit of result: one compared quantity, its largest absolute and relative difference.

The verdict is on the absolute difference (``DEFAULT_TOLERANCE`` unless ``run.py --tolerance`` says
otherwise); the relative one (largest absolute difference over the reference's largest magnitude) shows
how close that is to float rounding. Counts (mismatched tokens, frames) have no relative difference.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

DEFAULT_TOLERANCE = 1e-3


class Row(NamedTuple):
    """One compared quantity: ``absolute`` = max |ours − reference|, ``relative`` = that over max |reference|."""

    name: str
    absolute: float
    relative: float | None = None


def tensor_row(name: str, ours: torch.Tensor, reference: torch.Tensor) -> Row:
    """The row comparing two tensors of one shape, or of shapes that broadcast (a reference row against each
    of our batched rows); infinite when the shapes do not fit."""
    try:
        torch.broadcast_shapes(ours.shape, reference.shape)
    except RuntimeError:
        return Row(f"{name} (shape {tuple(ours.shape)} vs {tuple(reference.shape)})", float("inf"))
    ours, reference = ours.detach().float().cpu(), reference.detach().float().cpu()
    absolute = float((ours - reference).abs().max()) if ours.numel() else 0.0
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    return Row(name, absolute, absolute / scale if scale > 0 else None)


def differing(rows: list[Row], tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """The rows whose absolute difference is above ``tolerance`` (NaN counts as a difference)."""
    return [row for row in rows if not row.absolute <= tolerance]
