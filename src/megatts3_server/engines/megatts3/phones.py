"""The phone and tone id scheme shared by the G2P and the aligner token parsers.

Both language models emit the same 0…799 token alphabet (the G2P offsets it by the id of
``<Reserved_TTS_0>`` in its tokenizer). Ids 0…173 are the phone dictionary of the reference's
``dict.json`` (``<pad>``, ``<EOS>``, ``<UNK>`` first); Chinese phones carry their tone merged into one
token in 200…788; 798/799 delimit the aligner's output; ids ≥ 800 are aligner timestamps.
"""

from __future__ import annotations

import torch

# The three specials that open the reference's phone and tone dictionaries.
PAD = 0
EOS = 1
UNK = 2

# Phone dictionary layout (174 entries): 3–100 Chinese initials/finals, 101–144 English ARPAbet,
# 145 silence, 146–173 punctuation.
PHONE_VOCAB_SIZE = 174
FIRST_PHONE = 3
LAST_CHINESE_PHONE = 100
SIL = 145
FULL_STOP = 148  # 。
EXCLAMATION = 153  # ！
COMMA = 163  # ，
SEMICOLON = 165  # ；
QUESTION = 166  # ？
PUNCTUATION = frozenset(range(146, PHONE_VOCAB_SIZE))

# Tone dictionary (19 entries): 3 = no tone (English, silence, punctuation), 4 = Mandarin tone 1,
# 11–15 = tones 2–6.
TONE_VOCAB_SIZE = 19
TONE_NONE = 3
TONE_FIRST = 4
TONES_LATER = range(11, 16)

# Merged Chinese phone+tone tokens: (phone − 3)·6 + 200 + k, k = 1…6 the tone's rank.
MERGED_FIRST = 200
MERGED_LAST = 788
_TONES_PER_PHONE = 6


def split_merged(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split model tokens (0-based phone alphabet) into (phone ids, tone ids), elementwise.

    A token in 200…788 is a Chinese phone with its tone; any other token is a phone without tone
    (tone 3). The arithmetic floors like the reference, so 200 itself (never produced by the merge)
    decodes to phone 2 with tone 15. Phones outside the dictionary are left for ``clamp_phones``.
    """
    tokens = tokens.long()
    merged = (tokens >= MERGED_FIRST) & (tokens <= MERGED_LAST)
    offset = tokens - (MERGED_FIRST + 1)
    phone = torch.div(offset, _TONES_PER_PHONE, rounding_mode="floor") + FIRST_PHONE
    rank = torch.remainder(offset, _TONES_PER_PHONE) + 1
    # Rank 1 is tone id 4; ranks 2…6 are the tone ids 11…15 of the dictionary.
    tone = torch.where(rank == 1, torch.full_like(rank, TONE_FIRST), rank + 9)
    phones = torch.where(merged, phone, tokens)
    tones = torch.where(merged, tone, torch.full_like(tokens, TONE_NONE))
    return phones, tones


def clamp_phones(phones: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Replace ids that are not real phones (outside 3…173) by ``<UNK>``; also return how many were.

    The duration model's table has 174 rows and the DiT's 302, so an id outside the dictionary (a
    random or misbehaving LM can emit any token) would crash or silently read a mask embedding; the
    specials 0/1 would be taken for padding. ``<UNK>`` is in both tables and is not padding.
    """
    bad = (phones < FIRST_PHONE) | (phones >= PHONE_VOCAB_SIZE)
    return torch.where(bad, torch.full_like(phones, UNK), phones), int(bad.sum())
