"""Python client of the service: blocking ``MegaTTS3Client`` and ``AsyncMegaTTS3Client``, both on httpx.

    from megatts3_server.client import MegaTTS3Client
    with MegaTTS3Client("http://localhost:9000") as client:
        audio = client.synthesize_text("你好，这是MegaTTS3语音合成测试。", "voice_001", speed=1.0)

errors.py: what failed; operations.py: what each call sends, retries and returns (no I/O);
files.py: audio written to disk; clients.py: the two clients that run the operations.
"""

from megatts3_server.client.clients import AsyncMegaTTS3Client, MegaTTS3Client
from megatts3_server.client.errors import (
    AuthenticationError,
    InvalidRequestError,
    JobFailedError,
    MegaTTS3ConnectionError,
    MegaTTS3Error,
    MegaTTS3TimeoutError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    VoiceEnrollmentError,
)
from megatts3_server.client.files import AudioFileWriter, SavedAudio
from megatts3_server.client.operations import AUDIO_FORMATS, DEFAULT_URL, SpeechParams, audio_format_for

__all__ = [
    "AUDIO_FORMATS",
    "DEFAULT_URL",
    "AsyncMegaTTS3Client",
    "AudioFileWriter",
    "AuthenticationError",
    "InvalidRequestError",
    "JobFailedError",
    "MegaTTS3Client",
    "MegaTTS3ConnectionError",
    "MegaTTS3Error",
    "MegaTTS3TimeoutError",
    "NotFoundError",
    "RateLimitedError",
    "SavedAudio",
    "ServerError",
    "ServiceUnavailableError",
    "SpeechParams",
    "VoiceEnrollmentError",
    "audio_format_for",
]
