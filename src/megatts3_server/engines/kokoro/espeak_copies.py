"""espeak-ng's library copies, kept from piling up in /tmp.

phonemizer (under misaki's English fallback) loads espeak-ng from a private copy of the library, one
per wrapper, each in a fresh ``tempfile.mkdtemp()`` (the library keeps global state, and dlopen hands
out one instance per file). It removes a copy only when its wrapper is garbage collected or at a
clean exit, so a process that is killed (SIGKILL, a crash, a stop that outlasts its grace) leaves two
646 KB ``libespeak-ng.so`` copies in /tmp, at every start.

``private_library_copies()`` wraps the wrappers' creation: their copies are made in this process's
own folder (``megatts3-espeak-<pid>`` in the system's temp dir) and deleted as soon as they are loaded
(a loaded library needs no file: its pages stay mapped); phonemizer removes its empty folders at exit,
then this process's folder goes, and each start removes the folders of processes that are gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

_PREFIX = "megatts3-espeak-"
_switching = threading.Lock()


class _Folder:
    """Lives as long as the process: its finalizer removes the copy folder at exit. Made before
    phonemizer's own finalizers, it runs after them (finalizers run newest first)."""


_folders: dict[Path, _Folder] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_orphans(root: Path) -> list[Path]:
    """Remove the copy folders of processes that are gone; the folders removed."""
    removed = []
    for folder in root.glob(f"{_PREFIX}*"):
        pid = folder.name.removeprefix(_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def private_library_copies() -> Iterator[Path]:
    """Within the block, new temporary folders are made in this process's copy folder; after it, the
    library copies made there are deleted (module docstring). Yields the folder."""
    root = Path(tempfile.gettempdir())
    remove_orphans(root)
    folder = root / f"{_PREFIX}{os.getpid()}"
    folder.mkdir(exist_ok=True)
    if folder not in _folders:
        _folders[folder] = _Folder()
        weakref.finalize(_folders[folder], shutil.rmtree, folder, ignore_errors=True)
    with _switching:
        previous = tempfile.tempdir
        tempfile.tempdir = str(folder)  # phonemizer calls tempfile.mkdtemp() with no folder of its own
        try:
            yield folder
        finally:
            tempfile.tempdir = previous
            for copy in folder.glob("*/libespeak*"):
                copy.unlink(missing_ok=True)
