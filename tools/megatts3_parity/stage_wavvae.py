"""Parity of our WaveVAE decoder with the reference's ``WavVAE_V3.decode`` on the same checkpoint folder.

Our side loads through ``load_wavvae_decoder`` (weight norm folded); the reference side builds ``WavVAE_V3`` from
its own ``set_hparams`` and loads with its own ``load_ckpt`` exactly as its ``infer_cli`` does. Both decode the
same seeded latent; every stage is compared on its own side's running activations, so differences accumulate.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from differences import Row, tensor_row
from reference_code import import_reference

from megatts3_server.engines.megatts3.wavvae import CHECKPOINT_NAME, load_wavvae_decoder

FOLDER = "wavvae"
LATENT_FRAMES = 25  # one second of audio: enough for every layer, cheap at full size on CPU


def _reference_decoder(reference_root: Path, folder: Path, device: str) -> torch.nn.Module:
    import_reference(reference_root)
    from tts.modules.wavvae.decoder.wavvae_v3 import WavVAE_V3
    from tts.utils.commons.ckpt_utils import load_ckpt
    from tts.utils.commons.hparams import set_hparams

    hp = set_hparams(str(folder / "config.yaml"), global_hparams=False, print_hparams=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the legacy nn.utils.weight_norm the reference uses
        model = WavVAE_V3(hparams=hp)
    # The reference's own choice: strict with a training checkpoint, non-strict for the public decoder.ckpt.
    if (folder / "model_only_last.ckpt").exists():
        load_ckpt(model, str(folder / "model_only_last.ckpt"), CHECKPOINT_NAME, strict=True)
    else:
        load_ckpt(model, str(folder / "decoder.ckpt"), CHECKPOINT_NAME, strict=False)
    return model.eval().to(device)


def compare(reference_root: Path, checkpoint_root: Path, device: str, seed: int) -> list[Row]:
    """Rows for the projection, the latent upsampler, each generator stage,
    the pre-Tanh signal and the decoded audio."""
    folder = checkpoint_root / FOLDER
    ours, config = load_wavvae_decoder(folder, device=torch.device(device), dtype=torch.float32)
    reference = _reference_decoder(reference_root, folder, device)
    latent = torch.randn(1, LATENT_FRAMES, config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)

    results: list[Row] = []

    def record(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        results.append(tensor_row(f"wavvae.{name}", a, b))

    with torch.inference_mode():
        x = ours.proj_to_decoder(latent).transpose(1, 2)
        y = reference.proj_to_decoder(latent).permute(0, 2, 1)
        record("proj_to_decoder", x, y)
        x, y = ours.latent_upsampler(x), reference.latent_upsampler(y)
        record("latent_upsampler", x, y)
        layers = list(zip(ours.decoder.model_up, reference.decoder.model_up, strict=True))
        stage = 0
        for index, (our_layer, reference_layer) in enumerate(layers):
            x, y = our_layer(x), reference_layer(y)
            if type(our_layer).__name__ == "MRFBlock":
                stage += 1
                record(f"generator_stage{stage}", x, y)
            elif index == len(layers) - 2:
                record("pre_output", x, y)
        record("audio", ours(latent), reference.decode(latent)[:, 0])
    return results
