"""Write the stock packs' measures that ship with the package
(src/megatts3_server/engines/kokoro/data/stock_measures.npz: engines/kokoro/stock_voices.py).

    python tools/write_stock_measures.py [--model-cache build/bench-cache]

Run it after the pinned packs, the model, the G2P, the speaker encoder or a measure's sentence
change: a row whose tag no longer matches is measured at the engine's load instead (minutes with the
full pack set). Needs the full pack set installed in the model cache (megatts3-server voices
fetch-packs) and the cloning extra (the speaker encoder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from megatts3_server.engines.kokoro import KokoroEngine
from megatts3_server.engines.kokoro.cloning import CHECK_SENTENCE
from megatts3_server.engines.kokoro.speaker import SpeakerJudge
from megatts3_server.engines.kokoro.stock_voices import SHIPPED

TARGET = Path(__file__).resolve().parents[1] / "src" / "megatts3_server" / "engines" / "kokoro" / "data" / SHIPPED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-cache", type=Path, default=Path("build/bench-cache"))
    args = parser.parse_args()
    engine = KokoroEngine(args.model_cache, threads=2, warm_cloning=False)
    engine.load()
    stock = engine._stock
    assert stock is not None
    rows = stock.write_shipped(SpeakerJudge(), (CHECK_SENTENCE,), TARGET)
    print(f"{rows} rows for {len(engine.builtin_voices())} voices written to {TARGET}")


if __name__ == "__main__":
    main()
