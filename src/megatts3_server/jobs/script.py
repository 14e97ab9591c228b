"""What a long-form job asks for, as segments: a chapter's paragraphs, a script's lines, a screenplay's
utterances. Each segment is one voice speaking one text with one set of parameters, followed by a
pause; the track is the segments in order.

Three forms of request (POST /api/v1/tts/jobs):
- ``text``: a whole chapter in one voice; each paragraph (a line break) is a segment, and a paragraph
  longer than ``max_segment_chars`` is cut at sentence ends into several;
- ``script``: a list of lines (``ScriptLine``: voice id, text, parameters, pause after, speaker);
- ``screenplay``: ``name：text`` lines (full- or half-width colon), with ``voices`` mapping each name
  to a voice id (the service casts a voice for a name it does not map: service/casting.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from megatts3_server.engines.base import SynthesisParameters
from megatts3_server.errors import InvalidRequestError, TextTooLongError
from megatts3_server.jobs.parameters import JobParameters
from megatts3_server.text import split_sentences

# "name：text" or "name: text"; the name is everything before the first colon, at most 40 characters.
_COLON = re.compile("[:：]")
MAX_SPEAKER_CHARS = 40


@dataclass(frozen=True)
class Segment:
    """One voice, one text, one set of parameters; ``pause_ms`` of silence after it in the track."""

    voice_id: str
    text: str
    speaker: str
    pause_ms: int
    parameters: JobParameters = field(default_factory=JobParameters)


@dataclass(frozen=True)
class ScriptLine:
    """One line of a script: a voice speaking a text; ``pause_ms`` None: the pause by speaker."""

    voice_id: str
    text: str
    parameters: SynthesisParameters = field(default_factory=SynthesisParameters)
    pause_ms: int | None = None
    speaker: str | None = None
    """Shown in timestamps and subtitles (default: the voice id)."""
    cast: bool = False
    """The voice was cast by the service rather than named by the request."""


@dataclass(frozen=True)
class Pauses:
    paragraph_ms: int
    speaker_ms: int
    line_ms: int


def _cut(text: str, max_chars: int) -> list[str]:
    """A paragraph in pieces of at most ``max_chars``, cut at sentence ends where it has them."""
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text, max_chars):
        if current and len(current) + len(sentence.text) > max_chars:
            pieces.append(current)
            current = ""
        current += sentence.text
    if current:
        pieces.append(current)
    return pieces


def chapter_segments(
    text: str,
    voice_id: str,
    parameters: SynthesisParameters,
    pauses: Pauses,
    max_segment_chars: int,
    lexicon: Mapping[str, str] | None = None,
) -> list[Segment]:
    """A chapter in one voice: its paragraphs (cut to ``max_segment_chars``) as segments."""
    spoken = JobParameters(parameters, lexicon)
    segments = []
    for paragraph in (line.strip() for line in text.splitlines()):
        if not paragraph:
            continue
        pieces = _cut(paragraph, max_segment_chars)
        for number, piece in enumerate(pieces):
            pause = pauses.paragraph_ms if number == len(pieces) - 1 else pauses.line_ms
            segments.append(Segment(voice_id, piece, voice_id, pause, spoken))
    return segments


def script_segments(
    lines: Sequence[ScriptLine], pauses: Pauses, lexicon: Mapping[str, str] | None = None
) -> list[Segment]:
    """A script's lines (already validated by the API's schema) as segments; ``pause_ms`` defaults to
    the speaker pause where the next line's voice differs, else the line pause."""
    segments = []
    for number, line in enumerate(lines):
        following = lines[number + 1].voice_id if number + 1 < len(lines) else None
        default = pauses.line_ms if following in (None, line.voice_id) else pauses.speaker_ms
        segments.append(
            Segment(
                line.voice_id,
                line.text.strip(),
                line.speaker or line.voice_id,
                default if line.pause_ms is None else line.pause_ms,
                JobParameters(line.parameters, lexicon, line.cast),
            )
        )
    return segments


def screenplay_lines(screenplay: str) -> list[tuple[str, str]]:
    """The (name, text) of every ``name：text`` line; a line that is not one (or whose name holds a
    control character) is a 422 listing every such line."""
    parsed: list[tuple[str, str]] = []
    malformed: list[int] = []
    for number, raw in enumerate(screenplay.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _screenplay_line(raw)
        if line is None or not line[0].isprintable():  # a name with control characters is no name
            malformed.append(number)
            continue
        parsed.append(line)
    if malformed:
        raise InvalidRequestError(
            f"screenplay lines {', '.join(map(str, malformed[:20]))} are not 'name：text' (or have no text)",
            code="invalid_screenplay",
            details={"lines": malformed},
        )
    return parsed


def screenplay_segments(
    screenplay: str,
    voices: Mapping[str, str],
    parameters: SynthesisParameters,
    pauses: Pauses,
    lexicon: Mapping[str, str] | None = None,
    cast: Collection[str] = (),
) -> list[Segment]:
    """``name：text`` lines as segments (``cast``: the names whose voice the service cast); a line that
    is not one, or a name ``voices`` lacks, is a 422 that lists every such line or name."""
    parsed = screenplay_lines(screenplay)
    unknown = sorted({name for name, _ in parsed if name not in voices})
    if unknown:
        raise InvalidRequestError(
            f"the screenplay names speakers that 'voices' does not map to a voice: {', '.join(unknown)}",
            code="unknown_speakers",
            details={"speakers": unknown},
        )
    lines = [
        ScriptLine(voices[name], text, parameters, speaker=name, cast=name in cast) for name, text in parsed
    ]
    return script_segments(lines, pauses, lexicon)


def _screenplay_line(raw: str) -> tuple[str, str] | None:
    """(name, text) of a ``name：text`` line, or None when it is not one (no colon, no name, a name
    over MAX_SPEAKER_CHARS, no text). One search and two strips: linear in the line's length
    (the regular expression it replaces backtracked quadratically over leading spaces)."""
    colon = _COLON.search(raw)
    if colon is None:
        return None
    name, text = raw[: colon.start()].strip(), raw[colon.end() :].strip()
    if not name or len(name) > MAX_SPEAKER_CHARS or not text:
        return None
    return name, text


def check_limits(segments: list[Segment], *, max_characters: int, max_segments: int, max_segment_chars: int) -> None:
    """A job within the configured limits, with a text in every segment."""
    if not segments:
        raise InvalidRequestError("the job has nothing to speak", code="empty_text")
    if len(segments) > max_segments:
        raise TextTooLongError(
            f"the job has {len(segments)} segments; the limit is {max_segments} (api.jobs.max_segments)",
            code="too_many_segments",
        )
    total = sum(len(segment.text) for segment in segments)
    if total > max_characters:
        raise TextTooLongError(
            f"the job is {total} characters; the limit is {max_characters} (api.jobs.max_characters)"
        )
    empty = [number for number, segment in enumerate(segments) if not segment.text]
    if empty:
        raise InvalidRequestError(
            f"segments {', '.join(map(str, empty[:20]))} have no text", code="empty_text", details={"segments": empty}
        )
    long = [number for number, segment in enumerate(segments) if len(segment.text) > max_segment_chars]
    if long:
        raise TextTooLongError(
            f"segments {', '.join(map(str, long[:20]))} are longer than {max_segment_chars} characters "
            "(model.inference.max_length); split them",
            details={"segments": long},
        )
