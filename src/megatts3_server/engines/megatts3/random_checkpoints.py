"""A complete MegaTTS3 checkpoint tree with random weights, in the official layout and file format.

The real weights cannot be downloaded everywhere; tests, benchmarks and the parity tool build the same
architecture from these trees (``small``: tiny sizes that still exercise every code path; ``full``: the
published sizes, ~1.3 GB of fp32 weights plus a ~0.5 B-parameter G2P model).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from torch import Tensor

from megatts3_server.engines.megatts3 import aligner, dit, duration_model, random_weights, wavvae
from megatts3_server.engines.megatts3.checkpoints import save_checkpoint
from megatts3_server.engines.megatts3.g2p import write_random_g2p

Size = Literal["small", "full"]


def write_random_checkpoints(
    root: Path, *, size: Size = "small", seed: int = 0, wavvae_dir: Path | None = None
) -> Path:
    """Write g2p/, aligner_lm/, duration_lm/, diffusion_transformer/ and wavvae/ under ``root``; returns root.

    The WaveVAE is written decoder-only (``decoder.ckpt``), as the public release ships it. The random
    weights of the two token writers are scripted to write valid, fixed sequences and stop, as trained
    weights would (random ones never write their end token): the G2P a phone sequence (``script_g2p``),
    the aligner a phone alignment (``script_aligner``).
    """
    full = size == "full"
    dit_config = dit.DiTConfig.full() if full else dit.DiTConfig.small()
    save_checkpoint(
        root / "diffusion_transformer", "dit", random_weights.dit_weights(dit_config, seed), dit_config.to_hparams()
    )
    duration_config = duration_model.DurationConfig.full() if full else duration_model.DurationConfig.small()
    save_checkpoint(
        root / "duration_lm",
        "dur_model",
        random_weights.duration_weights(duration_config, seed + 1),
        duration_config.to_hparams(),
    )
    aligner_config = aligner.AlignerConfig.full() if full else aligner.AlignerConfig.small()
    aligner_weights = script_aligner(
        random_weights.aligner_weights(aligner_config, seed + 2),
        SCRIPTED_ALIGNMENT_PHONES,
        EXAMPLE_VOICE_FRAMES if full else TEST_VOICE_FRAMES,
    )
    save_checkpoint(root / "aligner_lm", "model", aligner_weights, aligner_config.to_hparams())
    wavvae_config = wavvae.WavVAEConfig.full() if full else wavvae.WavVAEConfig.small()
    save_checkpoint(
        wavvae_dir or root / "wavvae",
        "model_gen",
        random_weights.wavvae_weights(wavvae_config, seed + 3),
        wavvae_config.to_hparams(),
        filename="decoder.ckpt",
    )
    write_random_g2p(root / "g2p", full=full, seed=seed + 4)
    script_g2p(root / "g2p", SCRIPTED_PHONE_TOKENS_LONG if full else SCRIPTED_PHONE_TOKENS)
    return root


# What the scripted small G2P writes for any text (0-based phone alphabet, before the end token): Mandarin
# syllables with tones 1–4 merged into one token, a comma, English phones, a full stop.
SCRIPTED_PHONE_TOKENS = (201, 218, 236, 255, 163, 110, 121, 132, 143, 104, 115, 148)
# The full-size model's 896 dimensions hold a longer chain (each token once): about 4 s of speech.
SCRIPTED_PHONE_TOKENS_LONG = (201, 218, 236, 255, 273, 290, 309, 327, 163, *range(101, 125), 165, *range(125, 131), 148)


def script_g2p(folder: Path, tokens: tuple[int, ...]) -> None:
    """Rewrite a random G2P so that greedy decoding writes ``tokens`` (all different) then its end token,
    whatever the text.

    Random weights never emit the end token, so every piece would run the full 256-token budget into
    minutes of audio. Here each generated token only depends on the previous one: attention and MLP
    outputs are zeroed, so the last hidden state is the current token's embedding, and the output head
    maps the embedding of each token of the chain to the next one.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from megatts3_server.engines.megatts3.g2p import END_OFFSET, SPEECH_START_TOKEN
    from megatts3_server.engines.megatts3.phones import SIL

    tokenizer = AutoTokenizer.from_pretrained(folder)
    start = tokenizer.convert_tokens_to_ids(SPEECH_START_TOKEN)
    model = AutoModelForCausalLM.from_pretrained(folder, tie_word_embeddings=False)
    chain = [start + SIL, *(start + token for token in tokens), start + END_OFFSET]
    hidden = model.config.hidden_size
    if len(chain) > hidden or len(set(chain)) < len(chain):
        raise ValueError(f"a chain of {len(chain)} different tokens needs hidden_size ≥ {len(chain)} ({hidden})")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embedding = model.get_input_embeddings().weight
        head = model.get_output_embeddings().weight
        head.zero_()
        for position, (token, following) in enumerate(itertools.pairwise(chain)):
            embedding[token] = 0
            embedding[token, position] = 1
            head[following, position] = 10
    model.config.tie_word_embeddings = False
    model.save_pretrained(folder)


# What the scripted aligner writes for any recording: 10 phones (a pause, English phones, a full stop),
# their end frames spread evenly up to a fixed frame count: the 100 Hz frames of the example English voice
# (its latent has 174 frames) for full-size trees, of the tests' 3 s synthetic voice for small ones.
# Recordings of another length get the usual fix-ups (the last phone takes a shortfall).
SCRIPTED_ALIGNMENT_PHONES = (145, 110, 121, 132, 143, 104, 115, 126, 137, 148)
EXAMPLE_VOICE_FRAMES = 696
TEST_VOICE_FRAMES = 352


def script_aligner(weights: dict[str, Tensor], phones: tuple[int, ...], frames: int) -> dict[str, Tensor]:
    """Random aligner weights rewritten so that greedy decoding writes ``phones`` with their end frames.

    As in ``script_g2p``: the decoder's attention, cross-attention and MLP outputs and its positions are
    zeroed, so each token's logits depend only on the previous token, and the output layer maps each token
    of the chain (start, phone, timestamp, phone, …, end) to the next one.
    """
    weights = {key: value.clone() for key, value in weights.items()}
    for key, value in weights.items():
        if key.startswith("decoder.blocks.") and key.endswith(
            ("attn.out.weight", "attn.out.bias", "mlp.2.weight", "mlp.2.bias")
        ):
            value.zero_()
    weights["decoder.positional_embedding"].zero_()
    ends = [round(frames * (index + 1) / len(phones)) for index in range(len(phones))]
    chain = [aligner.START_TOKEN]
    for phone, end in zip(phones, ends, strict=True):
        chain += [phone, aligner.TIMESTAMP_OFFSET + end]
    chain.append(aligner.END_TOKEN)
    embedding, head = weights["decoder.token_embedding.weight"], weights["decoder.out_proj.weight"]
    if len(chain) > embedding.shape[1] or len(set(chain)) < len(chain) or max(chain) >= embedding.shape[0]:
        raise ValueError("the alignment chain does not fit the aligner's width or vocabulary")
    head.zero_()
    weights["decoder.out_proj.bias"].zero_()
    for position, (token, following) in enumerate(itertools.pairwise(chain)):
        embedding[token] = 0
        embedding[token, position] = 1
        head[following, position] = 10
    return weights
