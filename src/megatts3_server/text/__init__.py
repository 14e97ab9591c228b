"""Text before synthesis: normalization (numbers, symbols) and splitting into engine-sized pieces."""

from megatts3_server.text.normalize import normalize
from megatts3_server.text.split import Sentence, split_sentences

__all__ = ["Sentence", "normalize", "split_sentences"]
