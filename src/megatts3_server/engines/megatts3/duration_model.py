"""The autoregressive duration LM (the reference's ``ARDurPredictor``, checkpoint name ``dur_model``).

A relative-position phone encoder gives one linguistic vector per phone; a causal 8-head RoPE decoder then
predicts, phone by phone, a duration token (frames + 1, 1…``code_size``) from the previous token plus that
phone's vector. The head is either a Softplus regressor (``ar_mse``) or a classifier over the tokens.
Running the decoder (prompt pass, KV cache, post-processing) lives in ``durations``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Self, get_type_hints

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from megatts3_server.engines.megatts3 import checkpoints
from megatts3_server.engines.megatts3.fp32_norm import layer_fp32
from megatts3_server.engines.megatts3.rel_transformer import (
    RelTransformerEncoder,
    sinusoidal_positions,
)

CHECKPOINT_NAME = "dur_model"
# The phone vocabulary is the reference's dict.json (171 phones + <pad>, <EOS>, <UNK>), not a config value.
PHONE_VOCAB = 174
# Fixed in the reference's code, not in config.yaml: decoder heads, FFN width factor, RoPE base.
DECODER_HEADS = 8
DECODER_FFN_FACTOR = 4
ROPE_BASE = 10000.0
_BERT_WIDTH = 768


# config.yaml value -> the type of the DurationConfig field it fills.
_CONVERT: dict[Any, Callable[[Any], Any]] = {
    int: int,
    float: float,
    bool: bool,
    str: str,
    tuple[str, ...]: lambda values: tuple(str(value) for value in values),
    tuple[int, ...]: lambda values: tuple(int(value) for value in values),
}


@dataclass(frozen=True)
class DurationConfig:
    """Sizes and switches of ``duration_lm/config.yaml`` that shape the module or its inference."""

    dur_txt_hs: int
    dur_model_hidden_size: int
    dur_model_layers: int
    dur_code_size: int
    ffn_hidden_size: int
    num_heads: int
    enc_layers: int
    enc_ffn_kernel_size: int
    dropout: float
    enc_prenet: bool
    enc_pre_ln: bool
    ling_labels: tuple[str, ...]
    ling_label_dict_size: tuple[int, ...]
    dur_model_type: str
    max_tokens: int
    char_dict_size: int = 4000  # reference default (hparams.get)
    mega_use_char: bool = True  # reference default
    use_bert_input: bool = False  # reference default
    use_pos_embed: bool = False  # reference default
    use_post_ln: bool = False  # reference default
    lm_bias: bool = True  # reference default
    infer_temperature: float = 1.0  # reference default; only used when sampling with top-k > 1

    @property
    def is_regression(self) -> bool:
        """True for the Softplus regression head (``ar_mse``); any other type is the reference's classifier."""
        return self.dur_model_type == "ar_mse"

    @classmethod
    def from_hparams(cls, hp: Mapping[str, Any]) -> Self:
        """Read the config dict; keys the reference indexes directly are required here too."""
        # The reference cannot run with these off: no decoder layers, or no position module its encoder calls.
        for key in ("lm_use_enc", "use_rot_embed", "use_ph_pos_embed"):
            if not hp.get(key):
                raise checkpoints.CheckpointError(f"duration_lm config.yaml: {key} must be true (got {hp.get(key)!r})")
        if hp.get("encoder_type") != "rel_fft":
            raise checkpoints.CheckpointError(
                f"duration_lm config.yaml: encoder_type={hp.get('encoder_type')!r} is not supported (rel_fft only)"
            )
        for key in ("use_spk_embed", "use_spk_id", "use_spk_enc"):
            if hp.get(key):
                raise checkpoints.CheckpointError(f"duration_lm config.yaml: {key} is not supported")
        try:
            # Every field is the config.yaml key of its name: required unless it has a (reference) default.
            hints = get_type_hints(cls)
            config = cls(
                **{
                    f.name: _CONVERT[hints[f.name]](hp[f.name] if f.default is MISSING else hp.get(f.name, f.default))
                    for f in fields(cls)
                }
            )
            labels = config.ling_labels
        except KeyError as exc:
            raise checkpoints.CheckpointError(f"duration_lm config.yaml lacks {exc.args[0]!r}") from exc
        if set(labels) - {"tone"} or len(labels) != len(config.ling_label_dict_size):
            raise checkpoints.CheckpointError(
                f"duration_lm config.yaml: ling_labels {list(labels)} (sizes {list(config.ling_label_dict_size)})"
                " — only the tone label is fed at inference"
            )
        if config.dur_model_hidden_size % DECODER_HEADS:
            raise checkpoints.CheckpointError(
                f"duration_lm config.yaml: dur_model_hidden_size {config.dur_model_hidden_size} is not a multiple"
                f" of the {DECODER_HEADS} decoder heads"
            )
        return config

    def to_hparams(self) -> dict[str, Any]:
        """The config dict (the keys ``from_hparams`` reads plus the fixed switches the reference needs)."""
        hp = dataclasses.asdict(self)
        hp["ling_labels"] = list(self.ling_labels)
        hp["ling_label_dict_size"] = list(self.ling_label_dict_size)
        hp.update(
            lm_use_enc=True, use_rot_embed=True, use_ph_pos_embed=True, encoder_type="rel_fft",
            use_spk_embed=False, use_spk_id=False, use_spk_enc=False,
        )  # fmt: skip
        return hp

    @classmethod
    def full(cls, dur_model_type: str = "ar_mse") -> Self:
        """The published size (66,963,457 parameters; values reconstructed from that count)."""
        return cls(
            dur_txt_hs=512, dur_model_hidden_size=512, dur_model_layers=8, dur_code_size=128,
            ffn_hidden_size=1024, num_heads=2, enc_layers=4, enc_ffn_kernel_size=3,
            dropout=0.0,  # training-only
            enc_prenet=True, enc_pre_ln=True, ling_labels=("tone",), ling_label_dict_size=(20,),
            dur_model_type=dur_model_type,
            max_tokens=40000,  # no effect on step-by-step decoding (each step sees one position)
            char_dict_size=15000,
        )  # fmt: skip

    @classmethod
    def small(cls, dur_model_type: str = "ar_mse") -> Self:
        """Tiny sizes for tests; the code size stays 128 because the post-processing uses 127/64/32."""
        return dataclasses.replace(
            cls.full(dur_model_type),
            dur_txt_hs=32, dur_model_hidden_size=32, dur_model_layers=2, ffn_hidden_size=64,
            num_heads=2, enc_layers=1, char_dict_size=10,
        )  # fmt: skip


class _FloatTensorHolder(nn.Module):
    """Carries the reference's ``embed_positions._float_tensor`` buffer (present when ``use_pos_embed``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_float_tensor", torch.zeros(1))


class DecoderAttention(nn.Module):
    """Self-attention with a fused bias-free q/k/v projection (``in_proj_weight``) and bias-free output."""

    def __init__(self, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.out_proj = nn.Linear(dim, dim, bias=False)
        nn.init.xavier_uniform_(self.in_proj_weight)


class DecoderFFN(nn.Module):
    """1×1 conv → exact GELU → Linear. ``ffn_1`` is indexed ``.1`` because the reference puts a (no-op for
    kernel 1) causal padding in front of the conv inside a Sequential."""

    def __init__(self, dim: int, hidden: int, bias: bool) -> None:
        super().__init__()
        self.ffn_1 = nn.Sequential(nn.Identity(), nn.Conv1d(dim, hidden, 1, bias=bias))
        self.ffn_2 = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.ffn_1[1]
        return self.ffn_2(F.gelu(F.linear(x, conv.weight[..., 0], conv.bias)))


class DecoderBlock(nn.Module):
    """``layer_norm1`` / ``self_attn`` / ``layer_norm2`` / ``ffn``, pre-LN unless ``post_ln``."""

    def __init__(self, dim: int, n_heads: int, ffn_hidden: int, bias: bool, post_ln: bool) -> None:
        super().__init__()
        self.post_ln = post_ln
        self.layer_norm1 = nn.LayerNorm(dim)
        self.self_attn = DecoderAttention(dim, n_heads)
        self.layer_norm2 = nn.LayerNorm(dim)
        self.ffn = DecoderFFN(dim, ffn_hidden, bias)


class DecoderLayer(nn.Module):
    """The reference wraps each block in ``.op``; kept for the key names."""

    def __init__(self, dim: int, n_heads: int, ffn_hidden: int, bias: bool, post_ln: bool) -> None:
        super().__init__()
        self.op = DecoderBlock(dim, n_heads, ffn_hidden, bias, post_ln)


def _norm(layer: nn.LayerNorm, x: Tensor) -> Tensor:
    """LayerNorm statistics in fp32 whatever the model dtype (as autocast does in the reference)."""
    return layer_fp32(layer, x)


def rope_tables(positions: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """fp32 cos/sin [..., width] for rotate-half RoPE (base 10⁴) at integer ``positions``."""
    theta = torch.pow(ROPE_BASE, -torch.arange(0, width, 2, device=positions.device, dtype=torch.float32) / width)
    angles = positions.to(torch.float32)[..., None] * theta
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` [B, h, T, d] by fp32 tables [B, 1, T, d]; result in ``x``'s dtype."""
    xf = x.float()
    half = xf.shape[-1] // 2
    rotated = torch.cat((-xf[..., half:], xf[..., :half]), dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


class DurationLM(nn.Module):
    """The duration LM; ``state_dict()`` keys and shapes equal the reference's ``dur_model``."""

    def __init__(self, config: DurationConfig) -> None:
        super().__init__()
        self.config = config
        hs, dec = config.dur_txt_hs, config.dur_model_hidden_size

        def rel_encoder(vocab: int) -> RelTransformerEncoder:
            return RelTransformerEncoder(
                vocab, hs, config.ffn_hidden_size, config.num_heads, config.enc_layers, config.enc_ffn_kernel_size,
                prenet=config.enc_prenet, pre_ln=config.enc_pre_ln,
            )  # fmt: skip

        self.encoder = rel_encoder(PHONE_VOCAB)
        # Character-level inputs are never given at inference, but their weights are in the checkpoint.
        if config.mega_use_char:
            self.char_encoder = rel_encoder(config.char_dict_size)
        self.char_empty_embed = nn.Embedding(1, hs)
        if config.use_bert_input:
            self.bert_input_proj = nn.Linear(_BERT_WIDTH, hs)
        self.ling_label_embed_layers = nn.ModuleDict(
            {
                k: nn.Embedding(s + 3, hs, padding_idx=0)
                for k, s in zip(config.ling_labels, config.ling_label_dict_size, strict=True)
            }
        )
        self.enc_proj = nn.Linear(hs, dec)
        self.code_emb = nn.Embedding(config.dur_code_size + 2, dec, padding_idx=0)
        if config.use_pos_embed:
            self.embed_positions = _FloatTensorHolder()
        if not config.use_post_ln:
            self.layer_norm = nn.LayerNorm(dec)
        if config.is_regression:
            self.project_out_dim: nn.Module = nn.Sequential(nn.Linear(dec, 1), nn.Softplus())
        else:
            self.project_out_dim = nn.Linear(dec, config.dur_code_size + 1)
        self.layers = nn.ModuleList(
            DecoderLayer(dec, DECODER_HEADS, dec * DECODER_FFN_FACTOR, config.lm_bias, config.use_post_ln)
            for _ in range(config.dur_model_layers)
        )

    @property
    def bos_token(self) -> int:
        """The start token fed before the first prompt phone (``code_size + 1``)."""
        return self.config.dur_code_size + 1

    def encode(self, phones: Tensor, tones: Tensor) -> Tensor:
        """Linguistic vectors [B, T, dec] for right-padded ``phones``/``tones`` [B, T] (zero at padding)."""
        nonpad = (phones > 0)[..., None]
        width = self.config.dur_txt_hs
        extra = sinusoidal_positions(torch.arange(phones.shape[1], device=phones.device)[None], width)
        if "tone" in self.ling_label_embed_layers:
            extra = extra + self.ling_label_embed_layers["tone"](tones).float()
        x = self.encoder(phones, extra=extra * nonpad)
        return self.enc_proj(x * nonpad)

    def step_input(self, prev_tokens: Tensor, x_ling: Tensor, local_steps: Tensor) -> Tensor:
        """Decoder input: code embedding of the previous token + the phone's vector (+ optional positions).

        ``local_steps`` counts steps within one reference ``infer`` call; the optional sinusoidal position
        (``use_pos_embed``) uses it + 1, as the reference's incremental position lookup does.
        """
        h = self.code_emb(prev_tokens) + x_ling
        if self.config.use_pos_embed:
            h = h + sinusoidal_positions(local_steps + 1, h.shape[-1]).to(h.dtype)
        return h

    def decode(
        self,
        h: Tensor,
        positions: Tensor,
        cache: tuple[Tensor, Tensor] | None = None,
        cache_mask: Tensor | None = None,
        slot: int = 0,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run the decoder over ``h`` [B, T, dec] at absolute ``positions`` [B, T]; return (out, keys, values).

        Without ``cache`` the T inputs attend causally to each other (the teacher-forced prompt pass).
        With ``cache`` (keys, values [layers, B, heads, S, d], RoPE already applied to keys) T must be 1: the
        new key/value go into slot ``slot`` of the cache (in place) and the query attends to the slots where
        ``cache_mask`` [B, S] is True (which must include ``slot``). ``out`` is the final hidden state before
        the head; keys/values returned are the new ones [layers, B, heads, T, d].
        """
        b, t, _ = h.shape
        n_heads = DECODER_HEADS
        head_dim = h.shape[-1] // n_heads
        cos, sin = rope_tables(positions[:, None], head_dim)  # [B, 1, T, d]
        new_k, new_v = [], []
        for i, layer in enumerate(self.layers):
            block = layer.op
            residual = h
            x = h if block.post_ln else _norm(block.layer_norm1, h)
            q, k, v = (
                F.linear(x, block.self_attn.in_proj_weight).view(b, t, 3, n_heads, head_dim).permute(2, 0, 3, 1, 4)
            )
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            new_k.append(k)
            new_v.append(v)
            if cache is None:
                attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                cache[0][i, :, :, slot : slot + t] = k
                cache[1][i, :, :, slot : slot + t] = v
                attn = F.scaled_dot_product_attention(q, cache[0][i], cache[1][i], attn_mask=cache_mask[:, None, None])
            h = residual + block.self_attn.out_proj(attn.transpose(1, 2).reshape(b, t, -1))
            if block.post_ln:
                h = _norm(block.layer_norm1, h)
            residual = h
            x = h if block.post_ln else _norm(block.layer_norm2, h)
            h = residual + block.ffn(x)
            if block.post_ln:
                h = _norm(block.layer_norm2, h)
        if not self.config.use_post_ln:
            h = _norm(self.layer_norm, h)
        return h, torch.stack(new_k), torch.stack(new_v)

    def head(self, h: Tensor) -> Tensor:
        """fp32 head output [B, T, 1] (Softplus regression) or [B, T, code_size + 1] (classifier logits)."""
        linear = self.project_out_dim[0] if self.config.is_regression else self.project_out_dim
        out = F.linear(h.float(), linear.weight.float(), linear.bias.float())
        return F.softplus(out) if self.config.is_regression else out


def check_head(weights: Mapping[str, Tensor], config: DurationConfig, where: Path) -> None:
    """Fail clearly when the checkpoint's head does not match ``dur_model_type``."""
    has_regression = "project_out_dim.0.weight" in weights
    has_classifier = "project_out_dim.weight" in weights
    if not (has_regression if config.is_regression else has_classifier):
        found = "ar_mse (project_out_dim.0.*)" if has_regression else "classifier (project_out_dim.*)"
        raise checkpoints.CheckpointError(
            f"{where}: config.yaml says dur_model_type={config.dur_model_type!r} but the checkpoint's head is "
            f"{found if has_regression or has_classifier else 'missing'}"
        )


def load_duration_lm(
    folder: Path, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[DurationLM, DurationConfig]:
    """Build the duration LM from ``folder/config.yaml`` and load its checkpoint strictly (eval mode)."""
    config = DurationConfig.from_hparams(checkpoints.read_config(folder))
    weights = checkpoints.load_weights(folder, CHECKPOINT_NAME)
    check_head(weights, config, folder)
    with torch.device("meta"):
        model = DurationLM(config)
    model.to_empty(device="cpu")
    checkpoints.apply_weights(model, weights, strict=True, what=f"duration LM ({folder})")
    return model.to(device=device, dtype=dtype).eval(), config
