"""Parity of our MegaTTS3 engine with the reference implementation, stage by stage (not part of CI).

Given a checkout of the reference code (github bytedance/MegaTTS3) and a checkpoint folder in the official
layout, every stage runs both implementations on the same inputs and prints the largest absolute
difference of each intermediate result:

    python tools/megatts3_parity/run.py --reference ~/src/MegaTTS3 --checkpoints ~/MegaTTS3/checkpoints
    # no real weights? write random ones of the published sizes first (≈ 3 GB, a few minutes):
    python tools/megatts3_parity/run.py --reference ~/src/MegaTTS3 --checkpoints /tmp/mt3-full --write-random full

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

STAGES = ("g2p", "aligner", "duration", "dit", "wavvae")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="root of a bytedance/MegaTTS3 checkout")
    parser.add_argument("--checkpoints", type=Path, required=True, help="folder with g2p/, aligner_lm/, ... wavvae/")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest difference counted as a match")
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

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    torch.manual_seed(args.seed)
    failures = 0
    print(f"{'stage':<44} {'max |ours - reference|':>22}  verdict")
    for stage in args.stages:
        module = importlib.import_module(f"stage_{stage}")
        started = time.perf_counter()
        for name, difference in module.compare(args.reference, args.checkpoints, args.device, args.seed):
            verdict = "ok" if difference <= args.tolerance else "DIFFERS"
            failures += verdict != "ok"
            print(f"{name:<44} {difference:>22.3e}  {verdict}")
        print(f"{'':<44} {'':>22}  ({stage}: {time.perf_counter() - started:.1f} s)")
    print(f"{failures} of the compared results differ by more than {args.tolerance:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
