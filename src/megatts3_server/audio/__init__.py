"""Audio in and out: decode uploads, apply effects, encode responses."""

from megatts3_server.audio.decode import DecodedAudio, canonical_format, decode_audio
from megatts3_server.audio.effects import change_pitch, join_with_pauses, peak_normalize, trim_silence
from megatts3_server.audio.encode import MEDIA_TYPES, AudioFormat, encode_audio, parse_format, to_pcm16, write_wav

__all__ = [
    "MEDIA_TYPES",
    "AudioFormat",
    "DecodedAudio",
    "canonical_format",
    "change_pitch",
    "decode_audio",
    "encode_audio",
    "join_with_pauses",
    "parse_format",
    "peak_normalize",
    "to_pcm16",
    "trim_silence",
    "write_wav",
]
