"""Finding, reading and writing MegaTTS3 checkpoints in the official layout.

The official checkpoint root holds one folder per sub-model (``g2p/``, ``aligner_lm/``, ``duration_lm/``,
``diffusion_transformer/``, ``wavvae/``), each with a ``config.yaml`` and a checkpoint whose tensors sit under
``checkpoint["state_dict"][NAME]``. Keys may carry the ``module.`` (DistributedDataParallel) and
``_orig_mod.`` (torch.compile) prefixes of the training run; they are stripped here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from megatts3_server.errors import EngineNotReadyError

log = logging.getLogger(__name__)

WEIGHTS_HINT = (
    "download the official MegaTTS3 checkpoints (Hugging Face ByteDance/MegaTTS3, Apache-2.0) and point "
    "model.megatts3.checkpoint_dir (or MEGATTS3_MODEL_DIR) at the folder holding g2p/, aligner_lm/, "
    "duration_lm/, diffusion_transformer/ and wavvae/"
)

_STEPS_FILE = re.compile(r"model_ckpt_steps_(\d+)\.ckpt$")
_STRIPPED_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(EngineNotReadyError):
    """A checkpoint file is missing, unreadable, or does not fit the model built from its config."""

    code = "checkpoint_error"


def find_checkpoint(path: Path) -> Path:
    """The checkpoint file the reference would load from ``path``.

    A file is used as is. In a folder: ``model_only_last.ckpt``, else the ``model_ckpt_steps_N.ckpt`` with the
    largest N, else ``decoder.ckpt`` (the public WaveVAE folder holds only the decoder).
    """
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder {path} does not exist: {WEIGHTS_HINT}")
    last = path / "model_only_last.ckpt"
    if last.is_file():
        return last
    steps = [(int(m.group(1)), p) for p in path.glob("model_ckpt_steps_*.ckpt") if (m := _STEPS_FILE.search(p.name))]
    if steps:
        return max(steps)[1]
    decoder = path / "decoder.ckpt"
    if decoder.is_file():
        return decoder
    raise CheckpointError(
        f"no checkpoint in {path} (looked for model_only_last.ckpt, model_ckpt_steps_N.ckpt, decoder.ckpt): "
        + WEIGHTS_HINT
    )


def read_config(folder: Path) -> dict[str, Any]:
    """The sub-model's ``config.yaml`` as a dict."""
    path = folder / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: {WEIGHTS_HINT}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a mapping of settings")
    return data


def strip_prefixes(key: str) -> str:
    """The key without the training-time wrappers' prefixes, wherever they occur."""
    for prefix in _STRIPPED_PREFIXES:
        key = key.replace(prefix, "")
    return key


def load_weights(path: Path, name: str) -> dict[str, torch.Tensor]:
    """The tensors stored under ``state_dict[name]`` in the checkpoint at (or in) ``path``, keys cleaned."""
    file = find_checkpoint(path)
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{file} cannot be loaded as a checkpoint: {exc}") from exc
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or name not in state:
        found = sorted(state) if isinstance(state, dict) else []
        raise CheckpointError(f"{file} has no state_dict[{name!r}] (found: {found or 'nothing'})")
    return {strip_prefixes(key): tensor for key, tensor in state[name].items()}


def apply_weights(module: nn.Module, weights: Mapping[str, torch.Tensor], *, strict: bool, what: str) -> None:
    """Copy ``weights`` into ``module``, naming every key that does not fit.

    ``strict``: a missing, unexpected or shape-mismatched key is a CheckpointError listing them. Otherwise
    unexpected and mismatched keys are skipped and missing keys left as they are, each logged by name
    (the reference's non-strict load drops them silently).
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    mismatched = sorted(
        f"{key} {tuple(weights[key].shape)} vs model {tuple(own[key].shape)}"
        for key in set(own) & set(weights)
        if weights[key].shape != own[key].shape
    )
    if strict and (missing or unexpected or mismatched):
        raise CheckpointError(
            f"{what}: the checkpoint does not fit the model built from its config.yaml — "
            + "; ".join(
                f"{label}: {_preview(keys)}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", mismatched))
                if keys
            )
        )
    for label, keys in (("missing (left as built)", missing), ("unexpected (ignored)", unexpected)):
        if keys:
            log.warning("%s: %d %s keys: %s", what, len(keys), label, _preview(keys))
    if mismatched:
        log.warning("%s: %d keys skipped for their shape: %s", what, len(mismatched), _preview(mismatched))
    skip = {entry.split(" ", 1)[0] for entry in mismatched}
    usable = {key: value for key, value in weights.items() if key in own and key not in skip}
    module.load_state_dict(usable, strict=False)


def save_checkpoint(
    folder: Path,
    name: str,
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    filename: str = "model_only_last.ckpt",
) -> Path:
    """Write ``config.yaml`` and a checkpoint in the official format (used for random test weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    path = folder / filename
    torch.save({"state_dict": {name: {key: value.detach().cpu() for key, value in state_dict.items()}}}, path)
    return path


def _preview(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" … and {len(keys) - limit} more" if len(keys) > limit else "")
