"""Loading the five MegaTTS3 sub-models from the official checkpoint layout onto one device."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from megatts3_server.engines.megatts3.aligner import WhisperAligner, load_aligner
from megatts3_server.engines.megatts3.checkpoints import WEIGHTS_HINT, CheckpointError, find_checkpoint, read_config
from megatts3_server.engines.megatts3.dit import DiT, load_dit
from megatts3_server.engines.megatts3.duration_model import DurationLM, load_duration_lm
from megatts3_server.engines.megatts3.g2p import G2P
from megatts3_server.engines.megatts3.wavvae import WavVAEConfig, WavVAEDecoder, load_wavvae_decoder

log = logging.getLogger(__name__)

FOLDERS = ("g2p", "aligner_lm", "duration_lm", "diffusion_transformer", "wavvae")


@dataclass
class MegaTTS3Models:
    g2p: G2P
    aligner: WhisperAligner
    duration: DurationLM
    dit: DiT
    wavvae: WavVAEDecoder
    wavvae_config: WavVAEConfig
    win_size: int
    """Samples per analysis window of the DiT's config (the prompt recording is padded to it)."""
    device: torch.device
    dtype: torch.dtype
    """The DiT's and G2P's compute type (fp16/bf16 on a GPU); the other models run in fp32."""


def check_layout(root: Path, wavvae_dir: Path) -> None:
    """Fail at start-up, naming the first missing folder or file, before any large file is read."""
    folders = {name: root / name for name in FOLDERS[:-1]} | {"wavvae": wavvae_dir}
    for name, folder in folders.items():
        if not folder.is_dir():
            raise CheckpointError(f"MegaTTS3 checkpoint folder {folder} is missing: {WEIGHTS_HINT}")
        if name == "g2p":
            if not (folder / "config.json").is_file():
                raise CheckpointError(
                    f"{folder / 'config.json'} is missing (a Hugging Face model folder): {WEIGHTS_HINT}"
                )
            continue
        if not (folder / "config.yaml").is_file():
            raise CheckpointError(f"{folder / 'config.yaml'} is missing: {WEIGHTS_HINT}")
        find_checkpoint(folder)


def load_models(root: Path, wavvae_dir: Path, *, device: torch.device, dtype: torch.dtype) -> MegaTTS3Models:
    """Every sub-model, weights loaded, in eval mode on ``device`` (call check_layout first)."""
    dit_dir = root / "diffusion_transformer"
    win_size = int(read_config(dit_dir).get("win_size", 0))
    if win_size <= 0:
        raise CheckpointError(f"{dit_dir / 'config.yaml'} has no positive win_size")
    dit, _ = load_dit(dit_dir, device=device, dtype=dtype)
    duration, _ = load_duration_lm(root / "duration_lm", device=device, dtype=torch.float32)
    aligner, _ = load_aligner(root / "aligner_lm", device=device, dtype=torch.float32)
    wavvae, wavvae_config = load_wavvae_decoder(wavvae_dir, device=device, dtype=torch.float32)
    g2p = G2P.load(root / "g2p", device=device, dtype=dtype)
    log.info("MegaTTS3 models loaded from %s on %s (%s)", root, device, dtype)
    return MegaTTS3Models(g2p, aligner, duration, dit, wavvae, wavvae_config, win_size, device, dtype)
