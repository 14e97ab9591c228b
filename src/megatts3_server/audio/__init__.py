"""Audio in and out: decode uploads, apply effects, encode responses."""

from megatts3_server.audio.decode import DecodedAudio, canonical_format, decode_audio
from megatts3_server.audio.effects import change_pitch, join_with_pauses, limit_peak, trim_silence, with_pause
from megatts3_server.audio.encode import MEDIA_TYPES, AudioFormat, encode_audio, parse_format, to_pcm16, write_wav
from megatts3_server.audio.stream import StreamEncoder, open_stream_encoder

__all__ = [
    "MEDIA_TYPES",
    "AudioFormat",
    "DecodedAudio",
    "StreamEncoder",
    "canonical_format",
    "change_pitch",
    "decode_audio",
    "encode_audio",
    "join_with_pauses",
    "limit_peak",
    "open_stream_encoder",
    "parse_format",
    "to_pcm16",
    "trim_silence",
    "with_pause",
    "write_wav",
]
