"""Text before synthesis: normalization (numbers, symbols), splitting into engine-sized pieces, the
scripts a text is written in, and how long its speech lasts."""

from megatts3_server.text.normalize import normalize
from megatts3_server.text.script import unsupported_scripts
from megatts3_server.text.speech_length import estimate_speech_seconds
from megatts3_server.text.split import Sentence, split_sentences

__all__ = ["Sentence", "estimate_speech_seconds", "normalize", "split_sentences", "unsupported_scripts"]
