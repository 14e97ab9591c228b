"""espeak-ng's private library copies (phonemizer makes two per process) leave nothing in the temp
dir once loaded, and the folder of a process that was killed is removed at the next start."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from megatts3_server.engines.kokoro.espeak_copies import private_library_copies, remove_orphans


def test_the_phonemizer_keeps_no_library_copy_on_disk_and_still_speaks() -> None:
    from megatts3_server.engines.kokoro.phonemes import Phonemizer

    root = Path(tempfile.gettempdir())
    phonemize = Phonemizer()
    mine = root / f"megatts3-espeak-{os.getpid()}"
    assert [path for path in mine.iterdir() if path.is_dir()], "phonemizer's copies were made in this process's folder"
    assert list(mine.glob("*/libespeak*")) == []  # and deleted once loaded
    assert phonemize("hello world")
    assert tempfile.gettempdir() == str(root)  # the temp dir is the system's again


def test_the_folder_of_a_process_that_is_gone_is_removed(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"megatts3-espeak-{int(gone.stdout)}"
    (orphan / "tmpabc").mkdir(parents=True)
    (orphan / "tmpabc" / "libespeak-ng.so").write_bytes(b"\0" * 1024)
    mine = tmp_path / "megatts3-espeak-1"  # pid 1 is alive: never removed
    mine.mkdir()
    assert remove_orphans(tmp_path) == [orphan]
    assert not orphan.exists() and mine.exists()


def test_only_library_copies_are_deleted_and_the_temp_dir_comes_back(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with private_library_copies() as folder:
        made = Path(tempfile.mkdtemp())
        (made / "libespeak-ng.so").write_bytes(b"\0")
        (made / "other").write_bytes(b"\0")
    assert made.parent == folder and not (made / "libespeak-ng.so").exists() and (made / "other").exists()
    assert tempfile.tempdir == str(tmp_path)
