"""Text → phones with the MegaTTS3 G2P model (a Qwen2 causal LM in Hugging Face format).

The prompt is ``<BOT>`` + text + ``<BOS>`` followed by the token of the silence phone; the model then
writes phone tokens greedily until its end token. Phone k is the tokenizer id S + k, S being the id of
``<Reserved_TTS_0>`` (looked up, never assumed), and S + 801 ends the sequence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from megatts3_server.engines.megatts3.checkpoints import WEIGHTS_HINT, CheckpointError
from megatts3_server.engines.megatts3.phones import SIL, clamp_phones, split_merged

log = logging.getLogger(__name__)

SPEECH_START_TOKEN = "<Reserved_TTS_0>"
TEXT_OPEN = "<BOT>"
TEXT_CLOSE = "<BOS>"
END_OFFSET = 801  # S + 801 ends the phone sequence
RESERVED_COUNT = 802  # <Reserved_TTS_0> … <Reserved_TTS_801>
MAX_NEW_TOKENS = 256  # the reference's generation budget

# Published g2p/config.json (ByteDance/MegaTTS3, Qwen2-0.5B fine-tuned; its tokenizer puts S at 151667).
FULL_QWEN2 = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "max_window_layers": 24,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "vocab_size": 168896,
}
SMALL_QWEN2 = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 1024,
    "max_window_layers": 1,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}


@dataclass(frozen=True)
class Phonemes:
    """One text's phones: ``ph`` and ``tone`` (1-D LongTensors of equal length, starting with ``sil``).

    ``complete`` is False when the model used its whole budget without writing the end token (the text
    was probably too long for one segment); ``n_unknown`` counts tokens that were not phones;
    ``tokens`` are the model's tokens relative to S (before the split into phone and tone).
    """

    tokens: torch.Tensor
    ph: torch.Tensor
    tone: torch.Tensor
    complete: bool
    n_unknown: int


def parse_phone_tokens(generated: Sequence[int], speech_start: int) -> Phonemes:
    """Phones from the tokens the model generated after the prompt (tokenizer ids, padding allowed).

    The forced leading ``sil`` of the prompt is kept in front. Everything from the first end token on
    is dropped; without one, every generated token is kept (the reference drops the last token in
    both cases, losing a real phone when the budget runs out).
    """
    end = speech_start + END_OFFSET
    tokens = list(generated)
    complete = end in tokens
    if complete:
        tokens = tokens[: tokens.index(end)]
    relative = torch.tensor([SIL, *(t - speech_start for t in tokens)], dtype=torch.long)
    ph, tone = split_merged(relative)
    ph, n_unknown = clamp_phones(ph)
    return Phonemes(tokens=relative, ph=ph, tone=tone, complete=complete, n_unknown=n_unknown)


class G2P:
    """The G2P model and its tokenizer, loaded once; call it with a batch of texts."""

    def __init__(self, tokenizer, model, *, max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.speech_start = _speech_start(tokenizer)
        vocab = model.get_input_embeddings().weight.shape[0]
        if self.speech_start + RESERVED_COUNT > vocab:
            raise CheckpointError(
                f"G2P: the tokenizer puts {SPEECH_START_TOKEN} at {self.speech_start} but the model has only "
                f"{vocab} token embeddings (needs {self.speech_start + RESERVED_COUNT})"
            )
        # Any id works as padding (masked out); the end token keeps finished rows recognisable.
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.speech_start + END_OFFSET

    @classmethod
    def load(cls, folder: Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> G2P:
        """Load ``folder`` (the official ``g2p/`` Hugging Face folder) from local files only."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (folder / "config.json").is_file():
            raise CheckpointError(f"G2P: {folder / 'config.json'} is missing: {WEIGHTS_HINT}")
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"G2P: {folder} cannot be loaded: {exc}") from exc
        return cls(tokenizer, model.to(device).eval())

    def prompt_ids(self, text: str) -> list[int]:
        """The reference's prompt: tokens of ``<BOT>`` + text + ``<BOS>``, then the ``sil`` phone token."""
        ids = self.tokenizer(TEXT_OPEN + text + TEXT_CLOSE, add_special_tokens=False)["input_ids"]
        return [*ids, self.speech_start + SIL]

    def phonemize(self, texts: Sequence[str]) -> list[Phonemes]:
        """Phones of each text, all generated in one batch (greedy, so equal to one text at a time)."""
        if not texts:
            return []
        prompts = [self.prompt_ids(text) for text in texts]
        width = max(len(p) for p in prompts)
        device = self.model.get_input_embeddings().weight.device
        # A decoder-only model continues from the last position, so pad on the left and mask the padding.
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,  # the reference samples with top_k=1, i.e. greedily
                eos_token_id=self.speech_start + END_OFFSET,
                pad_token_id=self.pad_id,
                use_cache=True,  # the published generation config turns the cache off; it changes nothing but speed
            )
        results = [parse_phone_tokens(row.tolist(), self.speech_start) for row in out[:, width:].cpu()]
        for text, result in zip(texts, results, strict=True):
            if not result.complete or result.n_unknown:
                log.warning(
                    "G2P output for %r is suspect: %s, %d non-phone tokens",
                    text[:40],
                    "complete" if result.complete else f"no end token within {self.max_new_tokens} tokens",
                    result.n_unknown,
                )
        return results

    def __call__(self, texts: Sequence[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(phone ids, tone ids) per text, 1-D LongTensors on the CPU."""
        return [(p.ph, p.tone) for p in self.phonemize(texts)]


def _speech_start(tokenizer) -> int:
    token_id = tokenizer.convert_tokens_to_ids(SPEECH_START_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise CheckpointError(f"G2P: the tokenizer has no {SPEECH_START_TOKEN} token: {WEIGHTS_HINT}")
    return int(token_id)


def write_random_g2p(folder: Path, *, full: bool, seed: int) -> None:
    """Write a G2P folder with random weights in the official Hugging Face layout, offline.

    The tokenizer is a byte-level BPE without merges (every byte is a token) plus the special tokens
    the reference uses; S is therefore small (259) instead of the published 151667. ``full`` uses the
    published Qwen2-0.5B dimensions (weights saved in bfloat16 like the published file, about 1 GB);
    otherwise a one-layer model with tiny dimensions. The weights are Hugging Face's own init
    (normal, std 0.02), which stays finite through 24 layers.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=32768
    )
    reserved = [f"<Reserved_TTS_{i}>" for i in range(RESERVED_COUNT)]
    tokenizer.add_special_tokens({"additional_special_tokens": [TEXT_OPEN, TEXT_CLOSE, *reserved]})
    tokenizer.save_pretrained(folder)

    sizes = dict(FULL_QWEN2 if full else SMALL_QWEN2)
    needed = len(tokenizer)
    sizes["vocab_size"] = max(sizes.get("vocab_size", 0), -(-needed // 64) * 64)
    pad = tokenizer.pad_token_id
    config = Qwen2Config(**sizes, bos_token_id=pad, eos_token_id=pad, hidden_act="silu", use_sliding_window=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    if full:
        model = model.to(torch.bfloat16)
    model.save_pretrained(folder)
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": pad, "eos_token_id": pad}) + "\n")
