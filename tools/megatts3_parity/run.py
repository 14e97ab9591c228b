"""Parity of our MegaTTS3 engine with the reference implementation, stage by stage (not part of CI).

Given a checkout of the reference code (github bytedance/MegaTTS3) and a checkpoint folder in the official
layout, every stage runs both implementations on the same inputs and prints the largest absolute and
relative difference of each intermediate result:

    python tools/megatts3_parity/run.py --reference ~/src/MegaTTS3 --checkpoints ~/MegaTTS3/checkpoints
    # no real weights? write random ones of the published sizes first (≈ 3 GB, a few minutes):
    python tools/megatts3_parity/run.py --reference ~/src/MegaTTS3 --checkpoints /tmp/mt3-full --write-random full
    # the same tree again later: leave out --write-random

The aligner's decoder and the G2P's model call are also compared on live random weights of the checkpoint's
sizes (a random tree scripts both so that they write fixed sequences), teacher-forced on one token sequence,
with the aligner's per-step logit differences printed.

The reference side needs its own dependencies next to ours (pip install -e '.[megatts3]' librosa
openai-whisper pydub six einops langdetect); its text normalizers (WeTextProcessing) are not needed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from differences import DEFAULT_TOLERANCE

STAGES = ("g2p", "aligner", "duration", "dit", "wavvae")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="root of a bytedance/MegaTTS3 checkout")
    parser.add_argument("--checkpoints", type=Path, required=True, help="folder with g2p/, aligner_lm/, ... wavvae/")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="largest difference counted as a match"
    )
    parser.add_argument("--write-random", choices=("small", "full"), help="first write random weights of this size")
    args = parser.parse_args(argv)

    if not (args.reference / "tts").is_dir() and not (args.reference / "src" / "tts").is_dir():
        parser.error(f"{args.reference} does not look like a MegaTTS3 checkout (no tts/ folder)")
    if args.write_random:
        from megatts3_server.engines.megatts3.random_checkpoints import write_random_checkpoints

        started = time.perf_counter()
        write_random_checkpoints(args.checkpoints, size=args.write_random, seed=args.seed)
        elapsed = time.perf_counter() - started
        print(f"wrote {args.write_random} random checkpoints to {args.checkpoints} in {elapsed:.0f} s")

    torch.manual_seed(args.seed)
    failures = 0
    print(f"{'stage':<58} {'max |ours - ref|':>16} {'relative':>9}  verdict")
    for stage in args.stages:
        module = importlib.import_module(f"stage_{stage}")
        started = time.perf_counter()
        for row in module.compare(args.reference, args.checkpoints, args.device, args.seed):
            verdict = "ok" if row.absolute <= args.tolerance else "DIFFERS"
            failures += verdict != "ok"
            relative = "-" if row.relative is None else f"{row.relative:.1e}"
            print(f"{row.name:<58} {row.absolute:>16.3e} {relative:>9}  {verdict}")
        print(f"{'':<58} {'':>16} {'':>9}  ({stage}: {time.perf_counter() - started:.1f} s)")
    print(f"{failures} of the compared results differ by more than {args.tolerance:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
