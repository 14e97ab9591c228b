"""The parity tool's live comparisons (tools/megatts3_parity) must see a bug planted in our side.

A comparison that cannot fail is not a check: on small live random models, each planted bug (in a patched
copy of our aligner decoder or of our G2P model) must make the tool report a difference above its tolerance,
and the unbroken models must pass. The reference side is, by default, an unbroken copy of our own model
(the full-size run of ``run.py`` shows it equal to the reference); with ``MEGATTS3_REFERENCE`` set to a
checkout of bytedance/MegaTTS3 (and its dependencies installed) the same tests also run against its code.
"""

from __future__ import annotations

import copy
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from megatts3_server.engines.megatts3.aligner import AlignerConfig, WhisperAligner
from megatts3_server.engines.megatts3.g2p import G2P, write_random_g2p

PARITY_TOOL = Path(__file__).resolve().parents[2] / "tools" / "megatts3_parity"
TEXTS = ("今天天气很好。", "Hi there.")  # the second is left-padded in our batch
AUDIO_FRAMES = 150  # 50 Hz aligner features of a 3 s prompt (300 mel frames)


@pytest.fixture(scope="module")
def tool() -> Iterator[SimpleNamespace]:
    """The tool's modules (its folder is not a package: run.py puts it on sys.path, so do we)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(PARITY_TOOL))
        names = ("aligner_decoder", "differences", "g2p_logits", "reference_code")
        yield SimpleNamespace(**{name: importlib.import_module(name) for name in names})


def _bytedance(tool: SimpleNamespace, *modules: str) -> None:
    """Make the reference importable, or skip: MEGATTS3_REFERENCE unset, or a dependency missing."""
    root = os.environ.get("MEGATTS3_REFERENCE")
    if not root:
        pytest.skip("MEGATTS3_REFERENCE (a bytedance/MegaTTS3 checkout) is not set")
    tool.reference_code.import_reference(Path(root))
    for module in modules:
        pytest.importorskip(module)


# --- the aligner decoder -------------------------------------------------------------------------------


def drop_causal_mask(model: WhisperAligner) -> None:
    """Self-attention sees the later tokens in the whole-prefix pass."""
    for block in model.decoder.blocks:
        attend = block.attn.attend
        block.attn.attend = lambda x, k, v, causal=False, attend=attend: attend(x, k, v, causal=False)


def read_unwritten_cache(model: WhisperAligner) -> None:
    """A cached step attends past the slots written so far (what reading the whole zeroed buffer gives)."""
    for block in model.decoder.blocks:
        attend = block.attn.attend

        def past_end(x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False, attend=attend):
            if x.shape[1] == 1:
                k, v = F.pad(k, (0, 0, 0, 8)), F.pad(v, (0, 0, 0, 8))
            return attend(x, k, v, causal=causal)

        block.attn.attend = past_end


def offset_cache_position(model: WhisperAligner) -> None:
    """Each cached step is written and embedded one position too far."""
    step = model.decoder.step
    model.decoder.step = lambda tokens, position, cache: step(tokens, position + 1, cache)


def swap_cross_keys_values(model: WhisperAligner) -> None:
    """Cross-attention takes the audio's values as keys and its keys as values."""
    cross = model.decoder.cross_keys_values
    model.decoder.cross_keys_values = lambda audio: [(v, k) for k, v in cross(audio)]


ALIGNER_BUGS: dict[str, Callable[[WhisperAligner], None]] = {
    "causal mask dropped": drop_causal_mask,
    "cached step reads unwritten slots": read_unwritten_cache,
    "cache position off by one": offset_cache_position,
    "cross-attention keys and values swapped": swap_cross_keys_values,
}


@pytest.fixture(params=["our unbroken copy", "bytedance"])
def aligner_pair(request: pytest.FixtureRequest, tool: SimpleNamespace) -> tuple[WhisperAligner, Any]:
    """Our small live aligner and the reference's whole-prefix logits on the same weights."""
    config = AlignerConfig.small()
    weights = tool.aligner_decoder.live_aligner_weights(config, seed=3)
    ours = tool.aligner_decoder.load_live_weights(WhisperAligner(config), weights).eval()
    if request.param == "bytedance":
        _bytedance(tool)
        reference = tool.aligner_decoder.reference_whisper(config)
        return ours, tool.aligner_decoder.load_live_weights(reference, weights).eval().logits
    return ours, copy.deepcopy(ours).decoder


def _aligner_rows(tool: SimpleNamespace, ours: WhisperAligner, reference: Any) -> list:
    audio = torch.randn(1, AUDIO_FRAMES, ours.config.width, generator=torch.Generator().manual_seed(4))
    inputs = tool.aligner_decoder.scripted_inputs(2 * AUDIO_FRAMES, seed=5)
    rows, per_step = tool.aligner_decoder.compare_decoders(ours, reference, audio, inputs)
    assert per_step.numel() == inputs.shape[1] >= 128
    return rows


def test_aligner_decoder_comparison_passes_unbroken(tool: SimpleNamespace, aligner_pair) -> None:
    ours, reference = aligner_pair
    rows = _aligner_rows(tool, ours, reference)
    assert tool.differences.differing(rows) == []


@pytest.mark.parametrize("bug", ALIGNER_BUGS)
def test_aligner_decoder_comparison_sees_planted_bug(tool: SimpleNamespace, aligner_pair, bug: str) -> None:
    ours, reference = aligner_pair
    ALIGNER_BUGS[bug](ours)
    assert tool.differences.differing(_aligner_rows(tool, ours, reference)), f"the tool did not see: {bug}"


# --- the G2P model call ---------------------------------------------------------------------------------


def swap_rotary_frequencies(model: Any) -> None:
    """Two channel pairs of every head rotate at each other's frequency (a mis-ordered rotary table)."""
    inv_freq = model.model.rotary_emb.inv_freq
    inv_freq[[0, -1]] = inv_freq[[-1, 0]].clone()


def offset_step_positions(model: Any) -> None:
    """After the prompt, each generated token is given the position after its own."""
    forward = model.forward

    def shifted(*args: Any, position_ids: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if position_ids is not None and position_ids.shape[-1] == 1:
            position_ids = position_ids + 1
        return forward(*args, position_ids=position_ids, **kwargs)

    model.forward = shifted


G2P_BUGS: dict[str, Callable[[Any], None]] = {
    "rotary frequencies of two channel pairs swapped": swap_rotary_frequencies,
    "generated tokens' positions off by one": offset_step_positions,
}


@pytest.fixture(scope="module")
def g2p_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("g2p")
    write_random_g2p(folder, full=False, seed=6)
    return folder


@pytest.fixture(params=["our unbroken copy", "bytedance"])
def g2p_reference_call(request: pytest.FixtureRequest, tool: SimpleNamespace) -> Callable[[Any, Any, str], Any]:
    """(tokenizer, model, text) → (phones, tones) through the reference side's generation call."""
    if request.param == "bytedance":
        _bytedance(tool, "whisper", "librosa")
        return lambda tokenizer, model, text: tool.g2p_logits.reference_call(tokenizer)(model, text)
    return lambda tokenizer, model, text: G2P(tokenizer, model)([text])[0]


def _g2p_rows(tool: SimpleNamespace, folder: Path, reference_call: Callable, bug: str | None) -> list:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    ours = tool.g2p_logits.live_qwen2(folder, seed=7)
    reference = copy.deepcopy(ours)
    if bug is not None:
        G2P_BUGS[bug](ours)
    script = tool.g2p_logits.phone_script(G2P(tokenizer, ours).speech_start, seed=8)
    call = lambda model, text: reference_call(tokenizer, model, text)  # noqa: E731
    rows = tool.g2p_logits.compare_calls(ours, reference, tokenizer, call, TEXTS, script)
    assert [row.name for row in rows if "logits" in row.name][1].endswith(f"left-padded, {len(script)} forced steps")
    return rows


def test_g2p_comparison_passes_unbroken(tool: SimpleNamespace, g2p_folder: Path, g2p_reference_call) -> None:
    assert tool.differences.differing(_g2p_rows(tool, g2p_folder, g2p_reference_call, None)) == []


@pytest.mark.parametrize("bug", G2P_BUGS)
def test_g2p_comparison_sees_planted_bug(tool: SimpleNamespace, g2p_folder: Path, g2p_reference_call, bug: str) -> None:
    rows = _g2p_rows(tool, g2p_folder, g2p_reference_call, bug)
    assert tool.differences.differing(rows), f"the tool did not see: {bug}"
