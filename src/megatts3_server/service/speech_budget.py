"""How much speech a request may make, and will it be spoken within api.timeout? Decided before any
work, from the speech the text makes (its reading after the lexicon, inline readings and numbers are
expanded, not its characters) and the engine's speed measured on this machine.

``max_length`` bounds characters, but a reading can multiply them ("1" * 90 is read digit by digit; a
lexicon entry may read one word as forty syllables), and machines differ. So, in every mode:

- 413 ``speech_too_long`` when the speech is longer than ``api.max_speech_seconds`` (a request, or
  one job segment);

and then by mode:

- whole (non-streamed): 413 ``speech_too_long`` when even an idle service would not finish it within
  api.timeout, 503 ``too_busy`` (with Retry-After) when it would, but not with the work already running;
- stream: 413 ``speech_too_long`` when one of its pieces alone cannot be made within api.timeout (the
  stream's progress deadline): it would be cut off there, after its first pieces;
- job segment: only the length bound (background work has no deadline).

Either error says what to do instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from megatts3_server.errors import QueueFullError, ServiceError
from megatts3_server.service.scheduler import Scheduler
from megatts3_server.text import Sentence
from megatts3_server.text.speech_length import estimate_speech_seconds

Mode = Literal["whole", "stream", "segment"]


class SpeechTooLongError(ServiceError):
    status = 413
    code = "speech_too_long"


class SpeechBudget:
    def __init__(
        self, scheduler: Scheduler, *, timeout: float, max_speech_seconds: float = math.inf, enabled: bool = True
    ) -> None:
        """``enabled``: the timing checks (api.check_speech_time); the length bound always holds."""
        self._scheduler = scheduler
        self._timeout = timeout
        self._max_speech = max_speech_seconds
        self._enabled = enabled

    def check(self, pieces: Sequence[Sentence], speed: float, mode: Mode) -> float:
        """The estimated speech of ``pieces`` at ``speed`` (seconds); raises when it may not be made."""
        speech = estimate_speech_seconds(pieces, speed) if pieces else 0.0
        if speech > self._max_speech:
            raise SpeechTooLongError(
                f"this text reads as about {speech:.0f} s of speech (its readings and numbers expanded); one "
                f"{'job segment' if mode == 'segment' else 'request'} may make {self._max_speech:g} s "
                "(api.max_speech_seconds): split the text, or shorten the readings it uses",
                details={"estimated_speech_seconds": round(speech, 1), "max_speech_seconds": self._max_speech},
            )
        engine_speed = self._scheduler.speed
        if not self._enabled or engine_speed is None or not pieces or mode == "segment":
            return speech
        if mode == "stream":
            self._check_pieces(pieces, speed, engine_speed)
        else:
            self._check_whole(speech, len(pieces), engine_speed)
        return speech

    def _check_pieces(self, pieces: Sequence[Sentence], speed: float, engine_speed: float) -> None:
        longest = max(estimate_speech_seconds([Sentence(piece.text, 0.0)], speed) for piece in pieces)
        if longest / engine_speed > self._timeout:
            raise SpeechTooLongError(
                f"one sentence of this text reads as about {longest:.0f} s of speech, which takes about "
                f"{longest / engine_speed:.0f} s to synthesize here; a stream must make each sentence within "
                f"{self._timeout:g} s (api.timeout): shorten the readings it uses, or split the sentence",
                details={
                    "longest_piece_seconds": round(longest, 1),
                    "engine_speed": round(engine_speed, 2),
                    "timeout_seconds": self._timeout,
                },
            )

    def _check_whole(self, speech: float, pieces: int, engine_speed: float) -> None:
        workers = self._scheduler.workers
        # Alone, a job's pieces spread over the workers; beside others, the workers are shared fairly.
        idle = speech / (engine_speed * min(workers, pieces))
        busy = speech / engine_speed * max(1.0, (self._scheduler.depth + 1) / workers)
        figures = {
            "estimated_speech_seconds": round(speech, 1),
            "engine_speed": round(engine_speed, 2),
            "timeout_seconds": self._timeout,
        }
        advice = 'send it with "stream": true (a stream has no total time limit), or split the text'
        if idle > self._timeout:
            raise SpeechTooLongError(
                f"this text reads as about {speech:.0f} s of speech, which takes about {idle:.0f} s to synthesize "
                f"here; a whole response must be ready within {self._timeout:g} s (api.timeout): {advice}",
                details={**figures, "estimated_synthesis_seconds": round(idle, 1)},
            )
        if busy > self._timeout:
            raise QueueFullError(
                f"the service is too busy to synthesize about {speech:.0f} s of speech within {self._timeout:g} s "
                f"(api.timeout) now; retry later, or {advice}",
                code="too_busy",
                details={**figures, "estimated_synthesis_seconds": round(busy, 1)},
                retry_after=math.ceil(busy - idle),
            )
