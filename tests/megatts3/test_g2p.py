"""The G2P front end: phone/tone id scheme, parsing of generated tokens, and the Qwen2 model on random weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from megatts3_server.engines.megatts3.checkpoints import CheckpointError
from megatts3_server.engines.megatts3.g2p import END_OFFSET, G2P, parse_phone_tokens, write_random_g2p
from megatts3_server.engines.megatts3.phones import SIL, UNK, clamp_phones, split_merged

S = 1000  # any offset: the parser never assumes the published one


def merged(phone: int, rank: int) -> int:
    """The merged token of a Chinese phone with tone rank 1…6 (the training-side encoding)."""
    return (phone - 3) * 6 + 200 + rank


@pytest.fixture(scope="module")
def g2p_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("g2p")
    write_random_g2p(folder, full=False, seed=3)
    return folder


@pytest.fixture(scope="module")
def g2p(g2p_dir: Path) -> G2P:
    model = G2P.load(g2p_dir)
    model.max_new_tokens = 24
    return model


def test_split_merged_inverts_the_training_merge() -> None:
    tokens = torch.tensor([merged(3, 1), merged(3, 2), merged(100, 6), merged(57, 4), SIL, 101, 163])
    ph, tone = split_merged(tokens)
    assert ph.tolist() == [3, 3, 100, 57, SIL, 101, 163]
    assert tone.tolist() == [4, 11, 15, 13, 3, 3, 3]


def test_split_merged_floors_like_the_reference_at_200() -> None:
    ph, tone = split_merged(torch.tensor([200]))
    assert (ph.item(), tone.item()) == (2, 15)


def test_clamp_phones_replaces_non_phones_by_unk() -> None:
    ph, bad = clamp_phones(torch.tensor([0, 1, 2, 3, 173, 174, 300, -5]))
    assert ph.tolist() == [UNK, UNK, UNK, 3, 173, UNK, UNK, UNK]
    assert bad == 6


def test_parse_with_end_token_drops_it_and_what_follows() -> None:
    generated = [S + merged(10, 3), S + 120, S + 163, S + END_OFFSET, S + END_OFFSET, 7]
    result = parse_phone_tokens(generated, S)
    assert result.ph.tolist() == [SIL, 10, 120, 163]
    assert result.tone.tolist() == [3, 12, 3, 3]
    assert result.complete and result.n_unknown == 0


def test_parse_without_end_token_keeps_the_last_phone() -> None:
    result = parse_phone_tokens([S + 120, S + 121], S)
    assert result.ph.tolist() == [SIL, 120, 121]
    assert not result.complete


def test_parse_garbage_never_fails() -> None:
    result = parse_phone_tokens([5, S + 790, S - 1, S + 145], S)
    assert result.ph.tolist() == [SIL, UNK, UNK, UNK, SIL]
    assert result.n_unknown == 3
    assert parse_phone_tokens([], S).ph.tolist() == [SIL]


def test_random_folder_has_the_official_files_and_offsets(g2p_dir: Path, g2p: G2P) -> None:
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
        assert (g2p_dir / name).is_file()
    config = json.loads((g2p_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["vocab_size"] >= g2p.speech_start + 802
    assert g2p.tokenizer.convert_tokens_to_ids("<Reserved_TTS_801>") == g2p.speech_start + 801
    prompt = g2p.prompt_ids("你好")
    assert prompt[0] == g2p.tokenizer.convert_tokens_to_ids("<BOT>")
    assert prompt[-2:] == [g2p.tokenizer.convert_tokens_to_ids("<BOS>"), g2p.speech_start + SIL]


def test_generation_shapes_batching_and_determinism(g2p: G2P) -> None:
    texts = ["今天天气很好，我们去公园散步吧。", "hello", "A longer English sentence, with a comma."]
    batched = g2p.phonemize(texts)
    for text, result in zip(texts, batched, strict=True):
        alone = g2p.phonemize([text])[0]
        assert torch.equal(alone.ph, result.ph) and torch.equal(alone.tone, result.tone)
        assert result.ph.dtype == torch.long and result.ph.shape == result.tone.shape
        assert result.ph[0].item() == SIL
        # Random weights never write the end token: the whole budget is kept, plus the forced sil.
        assert not result.complete and result.ph.numel() == g2p.max_new_tokens + 1
        assert bool(((result.ph >= 2) & (result.ph < 174)).all())
    assert [torch.equal(a, b) for (a, _), (b, _) in zip(g2p(texts), g2p(texts), strict=True)] == [True] * 3
    assert g2p([]) == []


def test_missing_reserved_token_is_a_checkpoint_error(g2p: G2P) -> None:
    class Plain:
        unk_token_id = 0

        def convert_tokens_to_ids(self, token: str) -> int:
            return 0

    with pytest.raises(CheckpointError, match="Reserved_TTS_0"):
        G2P(Plain(), g2p.model)


def test_missing_folder_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"config\.json"):
        G2P.load(tmp_path / "g2p")
