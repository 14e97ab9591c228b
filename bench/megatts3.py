"""Throughput and real-time factor of our MegaTTS3 engine vs the reference implementation.

    python bench/megatts3.py --checkpoints /tmp/mt3-full [--write-random] \
        [--reference /path/to/MegaTTS3] [--steps 32] [--batches 1 4] [--device cuda]
    make bench-megatts3 [MEGATTS3_REFERENCE=/path/to/MegaTTS3] [BENCH_ARGS="--steps 8"]

Both run the same checkpoint tree (write random full-size weights with --write-random) on the same
reference voice and texts. Per batch size b, b requests of one sentence each:
- ours: the voice prepared once (as at upload), then one synthesize_batch() of the b pieces, sampled
  together by the DiT;
- reference: what its CLI / web demo does per request, ``preprocess`` (alignment, duration prompt) then
  ``forward``, one request after another; also its ``forward`` alone, the preprocessing reused.
The random trees come with a G2P scripted to write the same ~4 s phone sequence for every sentence
(random weights never write the end token), so both sides speak pieces of the same length.

Prints audio seconds per wall second (throughput), RTF, and the ratio ours / reference.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_VOICE = REPO.parent / "shared" / "fixtures" / "megatts3" / "English_prompt"
SAMPLE_RATE = 24000
TEXTS = [
    "The morning train was late again, so she read a few pages of her book.",
    "A quiet wind moved through the tall grass behind the old farmhouse.",
    "He promised to call back before dinner, but the phone never rang.",
    "Bright lanterns lined the river as the boats drifted slowly past.",
    "We counted the stars until the clouds rolled in from the west.",
    "Fresh bread from the corner bakery filled the whole street with warmth.",
    "The children laughed as the puppy chased its own tail in circles.",
    "After the storm the city streets shone like polished silver.",
]


def _timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def run_ours(args, wav: bytes, latent: np.ndarray) -> dict[str, float]:
    from megatts3_server.audio import decode_audio
    from megatts3_server.config import MegaTTS3Settings
    from megatts3_server.engines.base import BatchItem, SamplingOptions, VoiceContext
    from megatts3_server.engines.megatts3.engine import MegaTTS3Engine

    settings = MegaTTS3Settings(checkpoint_dir=args.checkpoints, time_step=args.steps, dur_disturb=0.0, seed=0)
    engine = MegaTTS3Engine(
        settings,
        args.checkpoints / "wavvae",
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        batch_size=max(args.batches),
    )
    figures: dict[str, float] = {}
    figures["load_s"], _ = _timed(engine.load)
    reference = decode_audio(wav, target_rate=SAMPLE_RATE)
    figures["prepare_s"], prepared = _timed(lambda: engine.prepare_voice(reference, latent))
    voice = VoiceContext("bench", meta=prepared.meta, arrays=prepared.arrays, version="bench")

    def batch(size: int) -> list[np.ndarray]:
        items = [BatchItem(TEXTS[i], voice, options=SamplingOptions(seed=i)) for i in range(size)]
        return engine.synthesize_batch(items)

    batch(1)  # warm-up
    for size in args.batches:
        times, audio = [], 0.0
        for _ in range(args.runs):
            elapsed, out = _timed(lambda size=size: batch(size))
            times.append(elapsed)
            audio = sum(len(a) for a in out) / SAMPLE_RATE
        figures[f"b{size}_wall_s"] = statistics.median(times)
        figures[f"b{size}_audio_s"] = audio
    return figures


def _stub_text_normalizers() -> None:
    """The reference imports WeTextProcessing at module level; the bench feeds it normalized text."""

    class Identity:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def normalize(self, text: str) -> str:
            return text

    for name in ("tn", "tn.chinese", "tn.english", "tn.chinese.normalizer", "tn.english.normalizer"):
        module = types.ModuleType(name)
        module.Normalizer = Identity
        sys.modules[name] = module


def run_reference(args, wav: bytes, latent_path: Path) -> dict[str, float]:
    source = args.reference / "src" if (args.reference / "src" / "tts").is_dir() else args.reference
    sys.path.insert(0, str(source))
    _stub_text_normalizers()
    import tts.infer_cli as cli

    cli.convert_to_wav_bytes = lambda data: io.BytesIO(data)  # our input is WAV already (pydub needs ffmpeg)
    cli.classify_language = lambda text: "en"  # langdetect is unseeded; the texts are English
    device = "cuda" if args.device.startswith("cuda") and torch.cuda.is_available() else "cpu"
    precision = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision, torch.float32)
    figures: dict[str, float] = {}
    figures["load_s"], infer = _timed(
        lambda: cli.MegaTTS3DiTInfer(device=device, ckpt_root=str(args.checkpoints), precision=precision)
    )

    def request(text: str, context=None) -> float:
        context = context or infer.preprocess(wav, latent_file=str(latent_path))
        out = infer.forward(context, text, time_step=args.steps, p_w=1.6, t_w=2.5, dur_disturb=0.0)
        return (len(out) - 44) / 2 / SAMPLE_RATE

    figures["prepare_s"], context = _timed(lambda: infer.preprocess(wav, latent_file=str(latent_path)))
    request(TEXTS[0], context)  # warm-up
    for size in args.batches:
        for label, shared in (("", None), ("fwd_", context)):
            times, audio = [], 0.0
            for _ in range(args.runs):
                elapsed, audio = _timed(
                    lambda size=size, shared=shared: sum(request(TEXTS[i], shared) for i in range(size))
                )
                times.append(elapsed)
            figures[f"{label}b{size}_wall_s"] = statistics.median(times)
            figures[f"{label}b{size}_audio_s"] = audio
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="MegaTTS3: our engine vs the reference implementation")
    parser.add_argument("--checkpoints", type=Path, required=True)
    parser.add_argument(
        "--write-random", action="store_true", help="write random full-size weights there unless it holds a tree"
    )
    parser.add_argument("--reference", type=Path, help="a bytedance/MegaTTS3 checkout (omit: ours only)")
    parser.add_argument("--voice", type=Path, default=SHARED_VOICE, help="<path> of <path>.wav + <path>.npy")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if max(args.batches) > len(TEXTS):
        parser.error(f"at most {len(TEXTS)} pieces per batch")
    if args.write_random and not (args.checkpoints / "diffusion_transformer").is_dir():
        from megatts3_server.engines.megatts3.random_checkpoints import write_random_checkpoints

        write_random_checkpoints(args.checkpoints, size="full")
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    wav = args.voice.with_suffix(".wav").read_bytes()
    latent_path = args.voice.with_suffix(".npy")
    latent = np.load(latent_path, allow_pickle=False)
    ours = run_ours(args, wav, latent)
    theirs = run_reference(args, wav, latent_path) if args.reference else None
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") and torch.cuda.is_available() else "CPU"
    print(f"\nMegaTTS3 on {device}, {torch.get_num_threads()} threads, {args.precision}, {args.steps} steps")
    print(f"load: ours {ours['load_s']:.1f} s" + (f", reference {theirs['load_s']:.1f} s" if theirs else ""))
    print(
        f"voice preparation: ours {ours['prepare_s']:.2f} s once per voice"
        + (f"; reference {theirs['prepare_s']:.2f} s on every request" if theirs else "")
    )
    print(f"{'batch':>5} {'impl':<26} {'audio s':>8} {'wall s':>8} {'audio s/s':>10} {'RTF':>7} {'ours ×':>7}")
    for size in args.batches:
        rows = [("ours (batched)", ours[f"b{size}_audio_s"], ours[f"b{size}_wall_s"])]
        if theirs:
            rows.append(("reference (per request)", theirs[f"b{size}_audio_s"], theirs[f"b{size}_wall_s"]))
            rows.append(("reference (forward only)", theirs[f"fwd_b{size}_audio_s"], theirs[f"fwd_b{size}_wall_s"]))
        base = rows[0][1] / rows[0][2]
        for name, audio, wall in rows:
            speed = audio / wall
            print(
                f"{size:>5} {name:<26} {audio:>8.2f} {wall:>8.2f} {speed:>10.3f} {wall / audio:>7.3f} "
                f"{base / speed:>7.2f}"
            )


if __name__ == "__main__":
    main()
