"""Will this text be spoken within api.timeout? Decided before any work, from the speech the text
makes (its normalized reading, not its characters) and the engine's speed measured on this machine.

``max_length`` bounds characters, but a reading can multiply them ("1" * 900 is read digit by digit)
and machines differ: a whole (non-streamed) response that could not be finished in time would only
end in a 504 after the whole timeout. Instead it is refused at once:

- 413 ``speech_too_long`` when even an idle service would not finish it in time;
- 503 ``too_busy`` (with Retry-After) when it would, but not with the work already running.

Either error says what to do instead: stream it (``stream: true``; a stream lives as long as it
makes progress) or split the text. Streams are not refused here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from megatts3_server.errors import QueueFullError, ServiceError
from megatts3_server.service.scheduler import Scheduler
from megatts3_server.text import Sentence
from megatts3_server.text.speech_length import estimate_speech_seconds


class SpeechTooLongError(ServiceError):
    status = 413
    code = "speech_too_long"


class SpeechBudget:
    def __init__(self, scheduler: Scheduler, *, timeout: float, enabled: bool = True) -> None:
        self._scheduler = scheduler
        self._timeout = timeout
        self._enabled = enabled

    def check(self, pieces: Sequence[Sentence], speed: float) -> None:
        """Raise when a whole response of ``pieces`` would not be made within the timeout."""
        engine_speed = self._scheduler.speed
        if not self._enabled or engine_speed is None or not pieces:
            return
        speech = estimate_speech_seconds(pieces, speed)
        workers = self._scheduler.workers
        # Alone, a job's pieces spread over the workers; beside others, the workers are shared fairly.
        idle = speech / (engine_speed * min(workers, len(pieces)))
        busy = speech / engine_speed * max(1.0, (self._scheduler.depth + 1) / workers)
        figures = {
            "estimated_speech_seconds": round(speech, 1),
            "engine_speed": round(engine_speed, 2),
            "timeout_seconds": self._timeout,
        }
        advice = 'send it with "stream": true (a stream has no total limit), or split the text'
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
