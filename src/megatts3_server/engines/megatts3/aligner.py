"""The MegaTTS3 aligner: a Whisper-style encoder-decoder that transcribes a prompt into timed phones.

The audio goes in as a Whisper log-mel (computed here without the ``openai-whisper`` package); the
decoder writes, after its start token 798, alternating phone tokens and timestamp tokens (800 + end
frame) and then 799. ``alignment`` turns those tokens into phones and durations. The module names
follow the official ``aligner_lm`` checkpoint (``state_dict["model"]``) so it loads strictly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from megatts3_server.engines.megatts3.checkpoints import apply_weights, load_weights, read_config
from megatts3_server.engines.megatts3.fp32_norm import layer_fp32

START_TOKEN = 798
END_TOKEN = 799
TIMESTAMP_OFFSET = 800
MAX_DECODE_STEPS = 768  # the reference's loop bound

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160


@dataclass(frozen=True)
class AlignerConfig:
    """Aligner sizes. The reference hard-codes them (no config is read) and the published
    ``aligner_lm/config.yaml`` is a training config without these keys, so each ``aligner_*`` key is
    optional and defaults to the reference's fixed value; tests write small values."""

    n_mels: int = 80
    n_audio_ctx: int = 3000
    n_vocab: int = 6800
    n_text_ctx: int = 2048
    width: int = 512
    n_head: int = 8
    n_audio_layer: int = 6
    n_text_layer: int = 6

    @classmethod
    def from_hparams(cls, hp: Mapping[str, Any]) -> Self:
        """Sizes from a ``config.yaml`` mapping (keys ``aligner_<field>``), reference values otherwise."""
        defaults = asdict(cls())
        return cls(**{name: int(hp.get(f"aligner_{name}", value)) for name, value in defaults.items()})

    def to_hparams(self) -> dict[str, Any]:
        """The keys ``from_hparams`` reads."""
        return {f"aligner_{name}": value for name, value in asdict(self).items()}

    @classmethod
    def full(cls) -> Self:
        """The published model (Whisper-base sized)."""
        return cls()

    @classmethod
    def small(cls) -> Self:
        """Tiny sizes for tests: the vocabulary still holds every timestamp of a short clip."""
        return cls(
            n_audio_ctx=1500, n_vocab=800 + 3000, n_text_ctx=800, width=64, n_head=2, n_audio_layer=1, n_text_layer=1
        )


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the model dtype, as the reference does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_fp32(self, x)


class Attention(nn.Module):
    """Multi-head attention with Whisper's projections (the key projection has no bias)."""

    def __init__(self, width: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``source`` [B, T, C], split into heads: [B, H, T, C/H] each."""
        return self._heads(self.key(source)), self._heads(self.value(source))

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        """Queries from ``x`` [B, T, C] over the given keys/values; output projected back to [B, T, C]."""
        q = self._heads(self.query(x))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal and x.shape[1] > 1)
        return self.out(out.transpose(1, 2).flatten(2))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.n_head, -1)).transpose(1, 2)


class Block(nn.Module):
    """Pre-LN residual block: self-attention, optional cross-attention, GELU MLP (4× wide)."""

    def __init__(self, width: int, n_head: int, *, cross: bool) -> None:
        super().__init__()
        self.attn = Attention(width, n_head)
        self.attn_ln = LayerNorm(width)
        self.cross_attn = Attention(width, n_head) if cross else None
        self.cross_attn_ln = LayerNorm(width) if cross else None
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mlp_ln = LayerNorm(width)

    def forward(
        self,
        x: torch.Tensor,
        *,
        cross_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        causal: bool = False,
        cache: tuple[torch.Tensor, torch.Tensor] | None = None,
        position: int = 0,
    ) -> torch.Tensor:
        """With ``cache`` (key and value buffers [B, H, capacity, C/H]), x's keys/values are written at
        ``position`` and x attends to everything written so far."""
        h = self.attn_ln(x)
        k, v = self.attn.keys_values(h)
        if cache is not None:
            end = position + x.shape[1]
            cache[0][:, :, position:end] = k
            cache[1][:, :, position:end] = v
            k, v = cache[0][:, :, :end], cache[1][:, :, :end]
        x = x + self.attn.attend(h, k, v, causal=causal)
        if self.cross_attn is not None and self.cross_attn_ln is not None and cross_kv is not None:
            x = x + self.cross_attn.attend(self.cross_attn_ln(x), *cross_kv)
        return x + self.mlp(self.mlp_ln(x))


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed audio position table: sines then cosines, timescales 1 … 10⁴."""
    half = channels // 2
    inv = torch.exp(-math.log(10000) / (half - 1) * torch.arange(half))
    angles = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class AudioEncoder(nn.Module):
    """Two convolutions (the second halves the frame rate to 50 Hz) and a stack of blocks."""

    def __init__(self, cfg: AlignerConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.width, cfg.width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(cfg.n_audio_ctx, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.n_head, cross=False) for _ in range(cfg.n_audio_layer))
        self.ln_post = LayerNorm(cfg.width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [B, n_mels, N] → audio features [B, ceil(N/2), width]."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.positional_embedding.shape[0]:
            raise ValueError(
                f"prompt too long for the aligner: {mel.shape[-1]} mel frames, at most "
                f"{2 * self.positional_embedding.shape[0]}"
            )
        x = x + self.positional_embedding[: x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


class TextDecoder(nn.Module):
    """Token + learned position embeddings, causal blocks with cross-attention, untied output layer."""

    def __init__(self, cfg: AlignerConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.n_vocab, cfg.width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.n_text_ctx, cfg.width))
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.n_head, cross=True) for _ in range(cfg.n_text_layer))
        self.ln = LayerNorm(cfg.width)
        self.out_proj = nn.Linear(cfg.width, cfg.n_vocab)

    def cross_keys_values(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per block, the cross-attention keys/values of the audio features (computed once per prompt)."""
        return [block.cross_attn.keys_values(audio) for block in self.blocks]

    def forward(self, tokens: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, n_vocab] for a whole token prefix [B, T] (no cache; what the reference runs)."""
        x = self._embed(tokens, 0, audio.dtype)
        for block, cross in zip(self.blocks, self.cross_keys_values(audio), strict=True):
            x = block(x, cross_kv=cross, causal=True)
        return self.out_proj(self.ln(x))

    def step(self, tokens: torch.Tensor, position: int, cache: DecoderCache) -> torch.Tensor:
        """Logits [B, n_vocab] of one new token per row at ``position``, extending ``cache`` in place."""
        x = self._embed(tokens[:, None], position, cache.dtype)
        for index, block in enumerate(self.blocks):
            buffers = (cache.keys[index], cache.values[index])
            x = block(x, cross_kv=cache.cross[index], cache=buffers, position=position)
        return self.out_proj(self.ln(x))[:, 0]

    def _embed(self, tokens: torch.Tensor, offset: int, dtype: torch.dtype) -> torch.Tensor:
        positions = self.positional_embedding[offset : offset + tokens.shape[1]]
        return (self.token_embedding(tokens) + positions).to(dtype)


@dataclass
class DecoderCache:
    """Preallocated self-attention keys/values [B, H, n_text_ctx, C/H] per block, plus the cross ones."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    cross: list[tuple[torch.Tensor, torch.Tensor]]
    dtype: torch.dtype


class WhisperAligner(nn.Module):
    """The aligner model; ``state_dict()`` matches the reference's ``model`` entry."""

    def __init__(self, config: AlignerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = AudioEncoder(config)
        self.decoder = TextDecoder(config)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """mel [B, n_mels, N] (fp32) → audio features in the model dtype."""
        return self.encoder(mel.to(self.encoder.conv1.weight.dtype))

    def new_cache(self, audio: torch.Tensor, capacity: int) -> DecoderCache:
        """An empty decoding cache for ``capacity`` tokens over these audio features."""
        cfg = self.config
        shape = (audio.shape[0], cfg.n_head, capacity, cfg.width // cfg.n_head)
        keys = [audio.new_zeros(shape) for _ in range(cfg.n_text_layer)]
        values = [audio.new_zeros(shape) for _ in range(cfg.n_text_layer)]
        return DecoderCache(keys, values, self.decoder.cross_keys_values(audio), audio.dtype)

    def greedy_decode(self, audio: torch.Tensor, *, max_steps: int = MAX_DECODE_STEPS) -> list[list[int]]:
        """Greedy tokens per row after the start token, up to and including the end token if reached.

        Equivalent to the reference's loop (recompute the whole prefix, argmax of the last position,
        stop at 799 or after ``max_steps`` tokens) but with a key/value cache.
        """
        batch = audio.shape[0]
        steps = min(max_steps, self.config.n_text_ctx - 1)
        cache = self.new_cache(audio, steps + 1)
        token = torch.full((batch,), START_TOKEN, dtype=torch.long, device=audio.device)
        done = torch.zeros(batch, dtype=torch.bool, device=audio.device)
        out = []
        for position in range(steps):
            logits = self.decoder.step(token, position, cache)
            token = logits.float().argmax(-1)
            out.append(token)
            done |= token == END_TOKEN
            if bool(done.all()):
                break
        rows = torch.stack(out, 1).tolist() if out else [[] for _ in range(batch)]
        return [row[: row.index(END_TOKEN) + 1] if END_TOKEN in row else row for row in rows]


def load_aligner(
    folder: Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[WhisperAligner, AlignerConfig]:
    """Build the aligner from ``folder`` (the official ``aligner_lm/``) and load its weights strictly."""
    config = AlignerConfig.from_hparams(read_config(folder))
    model = WhisperAligner(config)
    apply_weights(model, load_weights(folder, "model"), strict=True, what=f"aligner ({folder})")
    return model.to(device=device, dtype=dtype).eval(), config


@lru_cache(maxsize=4)
def slaney_mel_filters(n_mels: int = 80, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale with Slaney area normalisation, 0 Hz … Nyquist:
    the filterbank Whisper ships (librosa's default ``filters.mel``), [n_mels, n_fft/2 + 1] float32."""
    linear_step = 200.0 / 3  # Hz per mel below 1 kHz
    log_start_mel = 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        log_part = log_start_mel + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
        return np.where(hz >= 1000.0, log_part, hz / linear_step)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= log_start_mel, 1000.0 * np.exp(log_step * (mel - log_start_mel)), mel * linear_step)

    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array(sample_rate / 2)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None].astype(np.float32)


def log_mel(wav_16k: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Whisper's log-mel of a 16 kHz mono signal [S] → [n_mels, S // 160] (fp32, no 30 s padding)."""
    wav = wav_16k.float()
    window = torch.hann_window(N_FFT, device=wav.device)
    spec = torch.stft(wav, N_FFT, HOP, window=window, center=True, pad_mode="reflect", return_complex=True)
    power = spec[..., :-1].abs() ** 2  # Whisper drops the last frame
    filters = torch.from_numpy(slaney_mel_filters(n_mels)).to(wav.device)
    logs = (filters @ power).clamp(min=1e-10).log10()
    logs = torch.maximum(logs, logs.max() - 8.0)
    return (logs + 4.0) / 4.0


def resample(wav: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Resample a 1-D float32 signal exactly as the reference does through librosa: soxr "HQ", then the
    length fixed to ceil(len · new / orig) (zero-padded)."""
    import soxr

    out = soxr.resample(np.asarray(wav, dtype=np.float32), orig_sr, new_sr, quality="HQ").astype(np.float32)
    length = math.ceil(len(wav) * new_sr / orig_sr)
    return np.pad(out, (0, max(0, length - len(out))))[:length]
