"""The voice store: uploaded reference voices, their metadata and engine state."""

from megatts3_server.voices.latent import parse_latent
from megatts3_server.voices.store import NewVoiceFiles, StoredVoice, VoiceStore, now_iso, validate_voice_id

__all__ = ["NewVoiceFiles", "StoredVoice", "VoiceStore", "now_iso", "parse_latent", "validate_voice_id"]
