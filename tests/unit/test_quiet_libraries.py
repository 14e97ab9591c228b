"""The libraries' chatter is silenced at its source, and nothing else is: a fresh interpreter imports
them as the engine does, logging as the service does."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import logging, sys
from megatts3_server.logs import quiet_libraries
quiet_libraries()
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(name)s: %(message)s")
import {first}, {second}
import jieba
jieba.initialize()
logging.getLogger("phonemizer").warning("words count mismatch on %s%% of the lines (%s/%s)", 100.0, 1, 1)
logging.getLogger("phonemizer").warning("espeak is missing")
logging.getLogger("jieba").warning("a dictionary file is damaged")
logging.getLogger("megatts3_server.engines").warning("our own warning")
import warnings
warnings.warn("our own UserWarning")
"""


@pytest.mark.parametrize(("first", "second"), [("jieba", "webrtcvad"), ("webrtcvad", "jieba")])
def test_only_the_noise_is_silenced(first: str, second: str) -> None:
    """pkg_resources warns once, for whichever of the two imports it first: both orders are tried."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(first=first, second=second)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    for noise in ("pkg_resources", "Building prefix dict", "Loading model cost", "words count mismatch"):
        assert noise not in printed, printed
    for kept in ("espeak is missing", "a dictionary file is damaged", "our own warning", "our own UserWarning"):
        assert kept in printed, printed
