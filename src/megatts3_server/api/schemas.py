"""Request and response bodies of the HTTP API (the integration guide's field names)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from megatts3_server.api.fields import UnicodeStr
from megatts3_server.engines.base import SamplingOptions, SynthesisParameters
from megatts3_server.service.synthesis_types import GUIDANCE_RANGE, PITCH_RANGE, SPEED_RANGE, TIME_STEP_RANGE

__all__ = ["GUIDANCE_RANGE", "PITCH_RANGE", "SPEED_RANGE", "TIME_STEP_RANGE"]


# A voice named in a request: a voice id (64 characters at most) or a blend recipe of several.
MAX_VOICE_NAME = 300
VOICE_NAME_HELP = "A voice from GET /api/v1/voices, or a blend of built-in voices such as 'af_bella(2)+af_sky(1)'"

# A request's own lexicon: bounded by api.lexicon (checked by the lexicon service, which knows the settings).
LexiconIn = Annotated[
    dict[UnicodeStr, UnicodeStr] | None,
    Field(
        None,
        description="This request's readings, winning over the stored and file lexicons: word -> pinyin with tones "
        "('重庆': 'chong2 qing4') or phonemes between slashes ('Yeepay': '/jˈipA/')",
    ),
]


class SynthesisParametersIn(BaseModel):
    # strict: a JSON client sends numbers as numbers; "1.5" or true for a speed is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True)

    speed: float = Field(1.0, ge=SPEED_RANGE[0], le=SPEED_RANGE[1], description="Speaking rate factor")
    pitch: float = Field(1.0, ge=PITCH_RANGE[0], le=PITCH_RANGE[1], description="Pitch factor; duration is kept")
    emotion: UnicodeStr = Field("neutral", max_length=32, description="Rendered if the engine can, else reported")
    # Sampling knobs of the MegaTTS3 engine (ignored by engines that do not sample); None = configured default.
    time_step: int | None = Field(None, ge=TIME_STEP_RANGE[0], le=TIME_STEP_RANGE[1], description="Diffusion steps")
    p_w: float | None = Field(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1], description="Text guidance weight")
    t_w: float | None = Field(None, ge=GUIDANCE_RANGE[0], le=GUIDANCE_RANGE[1], description="Speaker guidance weight")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Sampling seed (same seed, same audio)")

    def checked(self) -> SynthesisParameters:
        """The parameters as the services take them."""
        return synthesis_parameters(**self.model_dump())


def synthesis_parameters(
    *,
    speed: float,
    pitch: float,
    emotion: str,
    time_step: int | None,
    p_w: float | None,
    t_w: float | None,
    seed: int | None,
) -> SynthesisParameters:
    """Validated request fields as the services take them: the one place the API assembles them (the
    JSON body's ``parameters``, synthesize_file's form fields)."""
    options = SamplingOptions(time_step=time_step, p_w=p_w, t_w=t_w, seed=seed)
    return SynthesisParameters(speed=speed, pitch=pitch, emotion=emotion, options=options)


class SynthesizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(..., description="Text to speak (Chinese, English or both)")  # Unicode: SpeechRequest checks
    voice_id: UnicodeStr | None = Field(
        None, min_length=1, max_length=MAX_VOICE_NAME, description=f"{VOICE_NAME_HELP}; omit it for the default"
    )
    parameters: SynthesisParametersIn = SynthesisParametersIn()
    format: UnicodeStr = Field("wav", description="wav, mp3, flac, ogg (Opus), opus, aac or pcm (raw s16le)")
    stream: bool = Field(False, description="Send audio sentence by sentence as it is synthesized")
    lexicon: LexiconIn = None


class VoiceOut(BaseModel):
    id: str
    name: str
    type: str
    description: str
    engine: str
    status: str
    language: str | None = None
    gender: str | None = None
    created_at: str | None = None
    duration: float | None = None
    has_latent: bool = False
    summary: str = ""
    progress: float | None = Field(None, description="Enrollment progress, 0-100 (uploaded voices)")
    similarity: float | None = Field(None, description="Speaker similarity to the reference reached by enrollment")
    error: str | None = Field(None, description="Why enrollment failed (status failed)")
    blend: str | None = Field(None, description="A blend voice's recipe, normalized")


class VoiceBlendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    voice_id: UnicodeStr = Field(..., min_length=1, max_length=64, description="Id for the new voice")
    blend: UnicodeStr = Field(
        ..., min_length=1, max_length=MAX_VOICE_NAME, description="The recipe, e.g. 'af_bella(2)+af_sky(1)'"
    )
    name: UnicodeStr = Field("", max_length=200, description="Display name (defaults to the id)")
    description: UnicodeStr = Field("", max_length=1000)


class VoiceListOut(BaseModel):
    voices: list[VoiceOut]


class VoiceUploadOut(VoiceOut):
    message: str
    status_url: str = Field(..., description="Where to follow the voice until its status is ready")


class LexiconPutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    entries: dict[UnicodeStr, UnicodeStr] = Field(
        ..., min_length=1, max_length=10_000, description="word -> reading, added to the global lexicon"
    )


class LexiconEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reading: UnicodeStr = Field(..., description="Pinyin with tones ('chong2 qing4') or /phonemes/")
