"""A speech request from start to answer: text checked, voice resolved, audio made or streamed.

This is the one service call behind every synthesis route (/api/v1/tts/synthesize, synthesize_file,
/v1/audio/speech): the route parses its own vocabulary into a SpeechRequest and shapes the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import anyio

from megatts3_server.audio import parse_format
from megatts3_server.ratelimit import Quota
from megatts3_server.service.lexicon import LexiconService
from megatts3_server.service.synthesis import (
    CheckedText,
    SynthesisParameters,
    SynthesisResult,
    SynthesisService,
    SynthesisStream,
)
from megatts3_server.service.text_check import unicode_text
from megatts3_server.service.voices import VoiceService
from megatts3_server.tenancy import Caller

Speech = SynthesisResult | SynthesisStream


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice_id: str | None = None
    """A stored or built-in voice; None = the configured default voice."""
    params: SynthesisParameters = dataclasses.field(default_factory=SynthesisParameters)
    format: str = "wav"
    stream: bool = False
    lexicon: Mapping[str, str] | None = None
    """This request's own readings (word -> pinyin or /phonemes/), winning over the global lexicon."""

    def __post_init__(self) -> None:
        unicode_text(self.text, "text")  # the one Unicode check of a text to speak (422 invalid_text)


@dataclass(frozen=True)
class ReferenceUpload:
    """A one-shot reference as uploaded: the recording and, optionally, its WaveVAE latent (.npy)."""

    audio: bytes
    latent: bytes | None = None


class SpeechService:
    def __init__(
        self,
        synthesis: SynthesisService,
        voices: VoiceService,
        lexicon: LexiconService,
        *,
        default_voice: str | None,
    ) -> None:
        """``default_voice``: model.default_voice (None: the engine's own)."""
        self._synthesis = synthesis
        self._voices = voices
        self._lexicon = lexicon
        self._default_voice = default_voice

    async def _checked(self, request: SpeechRequest, caller: Caller) -> CheckedText:
        """The request's text checked and marked with its tenant's lexicon, in a worker thread (the work
        grows with the text)."""
        lexicon = await self._lexicon.for_request(request.lexicon, caller.tenant)
        return await anyio.to_thread.run_sync(self._synthesis.check_text, request.text, lexicon)

    async def speak(self, request: SpeechRequest, quota: Quota, caller: Caller) -> Speech:
        """Speak in a built-in voice or a stored one ``caller`` sees, with its tenant's lexicon."""
        fmt = parse_format(request.format)
        text = await self._checked(request, caller)
        voice_id = self._voices.chosen(request.voice_id, self._default_voice)
        voice = await anyio.to_thread.run_sync(self._voices.context, voice_id, caller)
        return await self._synthesis.speak(
            text, voice, request.params, fmt, stream=request.stream, quota=quota, tenant=caller.tenant
        )

    async def speak_with_reference(
        self, request: SpeechRequest, reference: ReferenceUpload, quota: Quota, caller: Caller
    ) -> Speech:
        """Speak in the voice of an uploaded reference recording (prepared once per tenant, then reused)."""
        fmt = parse_format(request.format)
        text = await self._checked(request, caller)
        decoded = await anyio.to_thread.run_sync(self._voices.read_reference, reference.audio, reference.latent)
        if not self._voices.one_shot.knows(decoded, caller.tenant):
            await quota.charge()  # preparing a new reference is work, even if its audio is then cached
        voice = await anyio.to_thread.run_sync(self._voices.one_shot.voice, decoded, caller.tenant)
        speech = await self._synthesis.speak(
            text, voice.context, request.params, fmt, stream=request.stream, quota=quota, tenant=caller.tenant
        )
        description = dataclasses.replace(
            speech.description, voice_prepared="reused" if voice.reused else "new", voice_note=voice.summary or None
        )
        return dataclasses.replace(speech, description=description)
