"""Process-level allocator settings: glibc malloc hands large buffers back to the kernel when freed.

An inference allocates activation buffers whose size follows the input's length (tens to hundreds of
MB for a long piece of text). By default glibc raises its mmap threshold each time such a buffer is
freed (the "dynamic mmap threshold", up to 32 MB on 64-bit), so later buffers of that size are cut
from the malloc heaps instead of being mapped on their own, and the heaps keep those pages after they
are freed: the process's RSS climbs to the high-water mark of the longest inputs it has ever seen
(and fragments above it) and stays there. A fixed ``M_MMAP_THRESHOLD`` turns that adjustment off
(mallopt(3)): every allocation above it is a mapping of its own, unmapped when freed, and the heaps
are trimmed above the default ``M_TRIM_THRESHOLD``. onnxruntime's own CPU memory arena (kept on for
speed, engines/kokoro/engine.py) still holds the high-water mark of the longest piece spoken.

``configure_allocator()`` is called once per process when the app is built (app.py), before any
engine loads. ``MEGATTS3_MALLOC=default`` keeps glibc's own behaviour, and so does any glibc tuning
of the same thing in the environment (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``GLIBC_TUNABLES``: the operator's choice wins). Elsewhere than on glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import platform
import sys

log = logging.getLogger(__name__)

# mallopt(3) parameter numbers (malloc.h).
_M_MMAP_THRESHOLD = -3
# Above this an allocation is its own mapping. glibc's starting value: small objects stay in the heaps,
# audio and activation buffers (megabytes) do not.
MMAP_THRESHOLD = 128 * 1024

_GLIBC_TUNING = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def configure_allocator() -> bool:
    """Fix glibc's mmap threshold (see the module docstring); returns whether it was set."""
    if os.environ.get("MEGATTS3_MALLOC", "").strip().lower() in ("default", "off", "0", "false"):
        return False
    if any(name in os.environ for name in _GLIBC_TUNING) or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD) failed; large freed buffers may stay resident")
        return False
    return True


def freeze_startup_heap() -> None:
    """Move every object alive now (the engine's dictionaries: jieba's, pypinyin's, the G2P's tables,
    hundreds of thousands of objects) out of the cyclic garbage collector's reach (gc.freeze).

    A full collection walks every tracked object while holding the GIL, which stops the event loop
    with it: about 0.2 s once the embedded engine is loaded, more on a loaded machine, whenever
    allocation-heavy requests trigger one. Objects loaded once at start are never garbage; frozen, they
    are no longer walked (they are still freed by reference counting if ever released). Called once,
    after the engine's load."""
    gc.freeze()
    log.info("start-up heap frozen for the garbage collector: %d objects", gc.get_freeze_count())


# How long a thread may hold the GIL while another waits for it (CPython's default is 5 ms).
_SWITCH_SECONDS = 0.0005


def favour_the_event_loop() -> None:
    """Hand the GIL over ten times as often as CPython does by default (sys.setswitchinterval).

    Requests check texts, parse lexicons and plan jobs in worker threads so that the event loop goes
    on, but pure-Python work in a thread still holds the GIL for a whole switch interval at a time,
    and the loop needs it many times to answer even /health: with the default 5 ms, a 10,000-entry
    lexicon PUT or a 190,000-character job's intake made /health wait 130-220 ms (p99, bench/stall.py).
    The engine's own work (onnxruntime, PyTorch) releases the GIL and is not slowed by this."""
    sys.setswitchinterval(_SWITCH_SECONDS)
