"""A complete MegaTTS3 checkpoint tree with random weights, in the official layout and file format.

The real weights cannot be downloaded everywhere; tests, benchmarks and the parity tool build the same
architecture from these trees (``small``: tiny sizes that still exercise every code path; ``full``: the
published sizes, ~1.3 GB of fp32 weights plus a ~0.5 B-parameter G2P model).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from megatts3_server.engines.megatts3 import aligner, dit, duration_model, wavvae
from megatts3_server.engines.megatts3.checkpoints import save_checkpoint
from megatts3_server.engines.megatts3.g2p import write_random_g2p

Size = Literal["small", "full"]


def write_random_checkpoints(
    root: Path, *, size: Size = "small", seed: int = 0, wavvae_dir: Path | None = None
) -> Path:
    """Write g2p/, aligner_lm/, duration_lm/, diffusion_transformer/ and wavvae/ under ``root``; returns root.

    The WaveVAE is written decoder-only (``decoder.ckpt``), as the public release ships it. The G2P's
    random weights are then scripted (``script_g2p``) to write a fixed phone sequence and stop.
    """
    full = size == "full"
    dit_config = dit.DiTConfig.full() if full else dit.DiTConfig.small()
    save_checkpoint(
        root / "diffusion_transformer", "dit", dit.random_state_dict(dit_config, seed), dit_config.to_hparams()
    )
    duration_config = duration_model.DurationConfig.full() if full else duration_model.DurationConfig.small()
    save_checkpoint(
        root / "duration_lm",
        "dur_model",
        duration_model.random_state_dict(duration_config, seed + 1),
        duration_config.to_hparams(),
    )
    aligner_config = aligner.AlignerConfig.full() if full else aligner.AlignerConfig.small()
    save_checkpoint(
        root / "aligner_lm", "model", aligner.random_state_dict(aligner_config, seed + 2), aligner_config.to_hparams()
    )
    wavvae_config = wavvae.WavVAEConfig.full() if full else wavvae.WavVAEConfig.small()
    save_checkpoint(
        wavvae_dir or root / "wavvae",
        "model_gen",
        wavvae.random_state_dict(wavvae_config, seed + 3),
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
