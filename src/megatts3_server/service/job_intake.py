"""A long-form job checked whole before it is stored: its form (text, script or screenplay) made into
segments within api.jobs' limits, every segment's text checked as a synthesis request's is, its
speech estimated (readings and numbers expanded) within api.max_speech_seconds a segment and
api.jobs.max_speech_seconds the job, and every voice ready.

The work grows with the job (200,000 characters by default), so it runs in a worker thread, never
on the event loop; the raw input's size is bounded first (lines and line length of a screenplay,
characters of a text), so that no parse ever sees more than the limits allow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio

from megatts3_server.config import JobsSettings
from megatts3_server.errors import EmptyTextError, InvalidRequestError, ServiceError, TextTooLongError
from megatts3_server.jobs.script import (
    Pauses,
    ScriptLine,
    Segment,
    chapter_segments,
    check_limits,
    screenplay_lines,
    screenplay_segments,
    script_segments,
)
from megatts3_server.service.casting import Casting, VoiceHint
from megatts3_server.service.engine_loader import EngineLoader
from megatts3_server.service.lexicon import LexiconService
from megatts3_server.service.speech_budget import SpeechTooLongError
from megatts3_server.service.synthesis import SynthesisParameters, SynthesisService
from megatts3_server.service.text_check import unicode_text
from megatts3_server.service.voices import VoiceService
from megatts3_server.tenancy import Caller
from megatts3_server.text.lexicon import Lexicon


@dataclass(frozen=True)
class JobRequest:
    """One of ``text`` (+ ``voice_id``), ``script`` or ``screenplay`` (+ ``voices``)."""

    text: str | None = None
    voice_id: str | None = None
    parameters: SynthesisParameters = field(default_factory=SynthesisParameters)
    """How the chapter or the screenplay is spoken (a script's lines carry their own)."""
    script: list[ScriptLine] | None = None
    screenplay: str | None = None
    voices: dict[str, str | VoiceHint] | None = None
    """Screenplay name -> voice id, or a hint for the voice the service casts (a name left out: any voice)."""
    format: str = "wav"
    title: str = ""
    lexicon: Mapping[str, str] | None = None
    """Readings for this job's words, winning over the stored and configured lexicon (kept with every segment)."""

    def __post_init__(self) -> None:
        """The one Unicode check of the job's texts (422 invalid_text): nothing after it meets a surrogate."""
        for name in ("text", "screenplay"):
            if (value := getattr(self, name)) is not None:
                unicode_text(value, name)
        for number, line in enumerate(self.script or ()):
            unicode_text(line.text, f"script[{number}].text")


def _numbers(found: list[int]) -> str:
    return ", ".join(map(str, found[:20])) + (f" (and {len(found) - 20} more)" if len(found) > 20 else "")


class JobIntake:
    def __init__(
        self,
        synthesis: SynthesisService,
        loader: EngineLoader,
        voices: VoiceService,
        lexicon: LexiconService,
        settings: JobsSettings,
        *,
        max_segment_chars: int,
        default_voice: str | None,
    ) -> None:
        """``default_voice``: model.default_voice (None: the engine's own)."""
        self._synthesis = synthesis
        self._loader = loader
        self._voices = voices
        self._lexicon = lexicon
        self._settings = settings
        self._max_segment_chars = max_segment_chars
        self._default_voice = default_voice
        self._pauses = Pauses(settings.paragraph_pause_ms, settings.speaker_pause_ms, settings.line_pause_ms)

    async def check(self, request: JobRequest, caller: Caller) -> list[Segment]:
        """``caller``'s job as segments, each one checked; the first problem found is raised (422, 413)."""
        lexicon = await self._lexicon.for_request(request.lexicon, caller.tenant)
        segments = await anyio.to_thread.run_sync(self._checked_segments, request, lexicon, caller)
        # Every voice the request names, spoken or not: a mapping to a voice that does not exist is a
        # mistake the client wants to hear of, not a line it will find spoken in another voice.
        named = {voice for voice in (request.voices or {}).values() if isinstance(voice, str)}
        await self._check_voices({segment.voice_id for segment in segments} | named, caller)
        return segments

    def _checked_segments(self, request: JobRequest, lexicon: Lexicon, caller: Caller) -> list[Segment]:
        """(A worker thread.)"""
        self._check_size(request)
        segments = self._segments(request, caller)
        settings = self._settings
        check_limits(
            segments,
            max_characters=settings.max_characters,
            max_segments=settings.max_segments,
            max_segment_chars=self._max_segment_chars,
        )
        silent: list[int] = []
        speech = 0.0
        for number, segment in enumerate(segments):
            pieces = self._synthesis.segment_pieces(self._synthesis.check_text(segment.text, lexicon))
            if not pieces:
                silent.append(number)
                continue
            speed = segment.parameters.speech.speed
            speech += self._synthesis.check_speech([piece for _, piece in pieces], speed, "segment")
        if silent:
            raise EmptyTextError(
                f"segments {_numbers(silent)} have nothing to speak (only punctuation or spaces?)",
                details={"segments": silent},
            )
        if speech > settings.max_speech_seconds:
            raise SpeechTooLongError(
                f"the job reads as about {speech:.0f} s of speech (its readings and numbers expanded); one job may "
                f"make {settings.max_speech_seconds:g} s (api.jobs.max_speech_seconds): split it into several jobs",
                details={
                    "estimated_speech_seconds": round(speech, 1),
                    "max_speech_seconds": settings.max_speech_seconds,
                },
            )
        return segments

    def _check_size(self, request: JobRequest) -> None:
        """The raw input within bounds before it is parsed."""
        settings = self._settings
        if request.screenplay is not None:
            lines = request.screenplay.splitlines()
            if len(lines) > settings.max_screenplay_lines:
                raise TextTooLongError(
                    f"the screenplay has {len(lines)} lines; the limit is {settings.max_screenplay_lines} "
                    "(api.jobs.max_screenplay_lines)",
                    code="too_many_lines",
                )
            long = [number for number, line in enumerate(lines, start=1) if len(line) > settings.max_line_chars]
            if long:
                raise TextTooLongError(
                    f"screenplay lines {_numbers(long)} are longer than {settings.max_line_chars} characters "
                    "(api.jobs.max_line_chars)",
                    code="line_too_long",
                    details={"lines": long[:1000]},
                )
        raw = request.text if request.text is not None else request.screenplay
        if raw is not None and len(raw) > 2 * settings.max_characters:
            raise TextTooLongError(
                f"the job's {'text' if request.text is not None else 'screenplay'} is {len(raw)} characters, more "
                f"than twice the limit of {settings.max_characters} characters spoken (api.jobs.max_characters)"
            )
        if request.script is not None and len(request.script) > settings.max_segments:
            raise TextTooLongError(
                f"the script has {len(request.script)} lines; the limit is {settings.max_segments} "
                "(api.jobs.max_segments)",
                code="too_many_segments",
            )

    def _segments(self, request: JobRequest, caller: Caller) -> list[Segment]:
        """The request's segments, made by its kind's segmenter (JOB_KINDS: exactly one kind given)."""
        given = [kind for kind in JOB_KINDS if getattr(request, kind) is not None]
        if len(given) != 1:
            raise InvalidRequestError(
                f"give exactly one of {', '.join(JOB_KINDS)}", code="invalid_job", details={"given": given}
            )
        return JOB_KINDS[given[0]](self, request, caller)

    def _chapter(self, request: JobRequest, caller: Caller) -> list[Segment]:
        assert request.text is not None
        voice = self._voices.chosen(request.voice_id, self._default_voice)
        return chapter_segments(
            request.text, voice, request.parameters, self._pauses, self._max_segment_chars, request.lexicon
        )

    def _script(self, request: JobRequest, caller: Caller) -> list[Segment]:
        assert request.script is not None
        return script_segments(request.script, self._pauses, request.lexicon)

    def _screenplay(self, request: JobRequest, caller: Caller) -> list[Segment]:
        assert request.screenplay is not None
        casting = Casting(self._loader.engine, lambda voice_id: self._voices.context(voice_id, caller))
        cast = casting.cast(screenplay_lines(request.screenplay), request.voices or {})
        voices = {name: voice.voice_id for name, voice in cast.items()}
        # Kept with each segment (as its lexicon is), so the job reports the cast after a restart too.
        chosen = {name for name, voice in cast.items() if voice.cast}
        return screenplay_segments(
            request.screenplay, voices, request.parameters, self._pauses, request.lexicon, chosen
        )

    async def _check_voices(self, voice_ids: set[str], caller: Caller) -> None:
        problems: dict[str, str] = {}
        for voice_id in sorted(voice_ids):
            try:
                await anyio.to_thread.run_sync(self._voices.context, voice_id, caller)
            except ServiceError as exc:
                problems[voice_id] = exc.message
        if problems:
            raise InvalidRequestError(
                f"voices that cannot speak: {'; '.join(f'{v}: {why}' for v, why in list(problems.items())[:10])}"
                + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""),
                code="invalid_voices",
                details={"voices": problems},
            )


# The kinds of job: the JobRequest field that holds each (exactly one is given) -> what makes it segments.
JOB_KINDS: dict[str, Callable[[JobIntake, JobRequest, Caller], list[Segment]]] = {
    "text": JobIntake._chapter,
    "script": JobIntake._script,
    "screenplay": JobIntake._screenplay,
}
