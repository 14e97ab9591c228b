"""How the SQLite store (store.py) writes the folders of its voices: every file fsynced before the
rename that publishes it, in a staging folder first, and a folder being removed moved aside to a
trash folder; open() (recover) removes any staging or trash folder a crash left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from megatts3_server.voices.records import npy_bytes

STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"


def fsync_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it."""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` as a .npy file, fsynced."""
    fsync_write(path, npy_bytes(array))
