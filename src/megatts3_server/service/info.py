"""GET /api/v1/info: what this engine is and accepts (engine, version, languages, limits, parameters).

The AI-Sound platform's own engine answers this route too; a caller reads it to learn the sample
rate, the limits and each synthesis parameter's default and range before it sends work.
"""

from __future__ import annotations

from typing import Any

from megatts3_server import __version__
from megatts3_server.audio import AudioFormat
from megatts3_server.config import Settings
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.synthesis_types import GUIDANCE_RANGE, PITCH_RANGE, SPEED_RANGE, TIME_STEP_RANGE
from megatts3_server.service.voices import VoiceService


def _range(default: Any, bounds: tuple[Any, Any], **extra: Any) -> dict[str, Any]:
    return {"default": default, "min": bounds[0], "max": bounds[1], **extra}


def service_info(
    settings: Settings, loader: EngineLoader, voices: VoiceService, engine_speed: float | None = None
) -> dict[str, Any]:
    """``engine_speed``: seconds of audio per second the engine makes here (measured; None before)."""
    capabilities = loader.engine.capabilities
    honoured = capabilities.sampling_options
    sampling = settings.model.megatts3
    rate = settings.api.rate_limit
    model = capabilities.model
    return {
        "service": "megatts3-server",
        "version": __version__,
        # What the engine actually runs; the deployment's own naming (the guide's model.name, type and
        # version keys) follows as configured_model.
        "model": {
            "name": model.name if model else capabilities.name,
            "type": model.type if model else None,
            "version": model.version if model else None,
        },
        "configured_model": {
            "name": settings.model.name,
            "type": settings.model.type,
            "version": settings.model.version,
        },
        "engine": {
            "name": capabilities.name,
            "kind": settings.model.engine,
            "device": capabilities.device,
            "state": loader.state.value,
            "voice_cloning": capabilities.voice_cloning,
            "accepts_latent": capabilities.accepts_latent,
            "readings": capabilities.readings,
            # The embedded engine: how many of its voice packs are installed, and how to install the rest.
            "voice_packs": loader.engine.voice_packs(),
        },
        "languages": list(capabilities.languages),
        "sample_rate": capabilities.sample_rate,
        "formats": [fmt.value for fmt in AudioFormat],
        "reference_formats": list(settings.storage.supported_formats),
        # What a request that names no voice speaks with (None: it must name one).
        "default_voice": voices.default_voice(settings.model.default_voice),
        "limits": {
            "max_text_length": settings.model.inference.max_length,
            "max_voice_file_size": int(settings.storage.max_voice_file_size),
            "max_voice_seconds": settings.storage.max_voice_seconds,
            "max_request_size": int(settings.api.max_request_size),
            "timeout_seconds": settings.api.timeout,
            # A whole (non-streamed) response of more speech than this is refused up front (413 speech_too_long).
            "engine_speed": round(engine_speed, 2) if engine_speed else None,
            "max_whole_speech_seconds": (
                round(engine_speed * settings.api.timeout) if engine_speed and settings.api.check_speech_time else None
            ),
            "rate_limit": (
                {"requests_per_minute": rate.requests_per_minute, "burst_size": rate.burst_size}
                if rate.enabled
                else None
            ),
        },
        "parameters": {
            "speed": _range(1.0, SPEED_RANGE),
            "pitch": _range(1.0, PITCH_RANGE),
            "emotion": {"default": "neutral", "rendered": sorted(capabilities.emotions)},
            # Accepted by every engine; "honoured": whether this engine's output depends on it.
            "time_step": _range(sampling.time_step, TIME_STEP_RANGE, honoured="time_step" in honoured),
            "p_w": _range(sampling.p_w, GUIDANCE_RANGE, honoured="p_w" in honoured),
            "t_w": _range(sampling.t_w, GUIDANCE_RANGE, honoured="t_w" in honoured),
            "seed": _range(sampling.seed, (0, 2**31 - 1), honoured="seed" in honoured),
        },
    }
