"""Building blocks of the WaveVAE decoder: weight-normed convolutions, upsampling stages, HiFi-GAN-v2 MRF blocks.

Parameter names follow the official checkpoint (``weight_g`` / ``weight_v`` of PyTorch's legacy
``nn.utils.weight_norm``, Sequential indices as in the reference), so a reference state_dict loads strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2  # every LeakyReLU of the decoder


def weight_norm_magnitude(weight: Tensor) -> Tensor:
    """The L2 norm over every dim but the first, shaped like the legacy ``weight_g`` (dim 0 kept, others 1).

    The legacy weight norm always normalises along dim 0 — for a ConvTranspose1d that is the *input*
    channel, so its ``weight_g`` is (C_in, 1, 1).
    """
    return torch.linalg.vector_norm(weight, dim=tuple(range(1, weight.dim())), keepdim=True)


class WeightNormed:
    """Mixin holding a conv weight as the legacy pair ``weight = weight_g * weight_v / ||weight_v||``.

    ``fold_weight_norm()`` replaces the pair by the plain ``weight`` it defines: the same outputs without
    recomputing the norm on every call (the load path folds right after loading, in fp32).
    """

    def _split_weight(self) -> None:
        weight = self.weight.detach()
        del self.weight
        self.weight_g = nn.Parameter(weight_norm_magnitude(weight))
        self.weight_v = nn.Parameter(weight.clone())

    @property
    def is_folded(self) -> bool:
        return "weight_v" not in self._parameters

    def effective_weight(self) -> Tensor:
        """The convolution weight in use (computed from the pair until folded)."""
        if self.is_folded:
            return self.weight
        return self.weight_v * (self.weight_g / weight_norm_magnitude(self.weight_v))

    def fold_weight_norm(self) -> None:
        """Replace ``weight_g`` / ``weight_v`` by the equivalent plain ``weight`` parameter."""
        if self.is_folded:
            return
        weight = self.effective_weight().detach()
        del self.weight_g, self.weight_v
        self.weight = nn.Parameter(weight)


class WNConv1d(WeightNormed, nn.Conv1d):
    """``nn.Conv1d`` with a legacy weight-norm parametrisation (keys ``weight_g``, ``weight_v``, ``bias``)."""

    def __init__(self, *args: int, **kwargs: int) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WNConvTranspose1d(WeightNormed, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with a legacy weight-norm parametrisation (``weight_g`` is (C_in, 1, 1))."""

    def __init__(self, *args: int, **kwargs: int) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: Tensor) -> Tensor:
        # The output length is fixed by output_padding; no output_size argument is ever needed here.
        return F.conv_transpose1d(
            x,
            self.effective_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


class Upsample(nn.Module):
    """×r upsampling that halves the channels: ``x + sin(x)``, then nearest+conv plus a transposed conv.

    Both branches give exactly ``r·L`` samples: the transposed conv uses kernel 2k, stride r,
    padding k − r//2 and output_padding r % 2 with k = max(r, 5).
    """

    def __init__(self, channels: int, rate: int) -> None:
        super().__init__()
        kernel = max(rate, 5)
        # Sequential indices are part of the checkpoint keys: upsample.3.*, trans_upsample.1.*
        self.upsample = nn.Sequential(
            nn.Upsample(scale_factor=rate, mode="nearest"),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.ReflectionPad1d(3),
            WNConv1d(channels, channels // 2, kernel_size=7),
        )
        self.trans_upsample = nn.Sequential(
            nn.LeakyReLU(LEAKY_SLOPE),
            WNConvTranspose1d(
                channels,
                channels // 2,
                kernel_size=2 * kernel,
                stride=rate,
                padding=kernel - rate // 2,
                output_padding=rate % 2,
            ),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = torch.sin(x) + x
        return self.upsample(x) + self.trans_upsample(x)


class MRFBranch(nn.Module):
    """One receptive-field branch: three residual steps, each a dilated conv (1, 3, 5) then an undilated one."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2) for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for dilated, plain in zip(self.convs1, self.convs2, strict=True):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, LEAKY_SLOPE)), LEAKY_SLOPE))
        return x


class MRFBlock(nn.Module):
    """HiFi-GAN-v2 multi-receptive-field block: the mean of three branches with kernels 3, 7 and 11."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block1 = MRFBranch(channels, 3)
        self.block2 = MRFBranch(channels, 7)
        self.block3 = MRFBranch(channels, 11)

    def forward(self, x: Tensor) -> Tensor:
        return (self.block1(x) + self.block2(x) + self.block3(x)) / 3


class Generator(nn.Module):
    """The waveform generator ``decoder.model_up``: conv in, per ratio (Upsample, MRFBlock), conv out.

    Channels start at ``ngf · 2^len(ratios)`` and halve at every stage, ending at ``ngf`` before the
    single-channel output conv; the output is squashed by Tanh or (``use_tanh`` false) a 1×1 conv.
    """

    def __init__(self, in_channels: int, ngf: int, ratios: tuple[int, ...], use_tanh: bool) -> None:
        super().__init__()
        channels = ngf * 2 ** len(ratios)
        layers: list[nn.Module] = [nn.ReflectionPad1d(3), WNConv1d(in_channels, channels, kernel_size=7)]
        for rate in ratios:
            layers += [Upsample(channels, rate), MRFBlock(channels // 2)]
            channels //= 2
        layers += [
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.ReflectionPad1d(3),
            WNConv1d(ngf, 1, kernel_size=7),
            nn.Tanh() if use_tanh else nn.Conv1d(1, 1, 1),
        ]
        self.model_up = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model_up(x)
