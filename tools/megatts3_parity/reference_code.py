"""Making the reference checkout (github bytedance/MegaTTS3) importable for the parity stages."""

from __future__ import annotations

import sys
from pathlib import Path


def import_reference(reference_root: Path) -> Path:
    """Put the folder holding the reference's ``tts`` package on sys.path (the checkout or its src/)."""
    for candidate in (reference_root, reference_root / "src"):
        if (candidate / "tts").is_dir():
            if str(candidate) not in sys.path:
                sys.path.insert(0, str(candidate))
            return candidate
    raise FileNotFoundError(f"no tts/ package under {reference_root}")
