"""What the embedded engine makes of a reference recording: the closest stock voice, or (with the
cloning extra and a time budget) a style pack searched towards the reference speaker."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping

import numpy as np

from megatts3_server.audio import DecodedAudio
from megatts3_server.engines.base import CancelToken, EnrollmentProgress, PreparedVoice, VoiceContext
from megatts3_server.engines.kokoro.catalogue import UNCLEAR_PACKS
from megatts3_server.engines.kokoro.prosody import identity
from megatts3_server.engines.kokoro.speaker import SpeakerJudge
from megatts3_server.engines.kokoro.stock_voices import StockMeasures
from megatts3_server.engines.kokoro.style_search import SearchSettings, StyleSearch
from megatts3_server.engines.kokoro.voice_match import distance, voice_features

log = logging.getLogger(__name__)

# A search speaks every candidate with the short scoring sentence (~1.6 s) and checks its start and
# its finalists with the longer one (~4 s).
SCORING_SENTENCE = "Hello there, how are you today?"
CHECK_SENTENCE = "We walked along the quiet river until the sun went down behind the hills."

SpeakPhonemes = Callable[[str, np.ndarray, CancelToken | None], np.ndarray]
"""Speaks a phoneme string with a style table (cancellable); audio at the engine's sample rate."""


class Cloning:
    def __init__(
        self,
        packs: Mapping[str, np.ndarray],
        stock: StockMeasures,
        phonemize: Callable[[str], str],
        speak: SpeakPhonemes,
        judge: SpeakerJudge | None,
        search: SearchSettings,
        sample_rate: int,
    ) -> None:
        # Where a clone may start: a pack it would speak its own language badly with is no start.
        self._packs = {name: table for name, table in packs.items() if name not in UNCLEAR_PACKS}
        self._stock = stock
        self._phonemize = phonemize
        self._speak = speak
        self._judge = judge
        self._search = search
        self._rate = sample_rate

    def warm(self) -> None:
        """What every search needs, done before the first: the judge's first call (seconds of torch
        start-up) and the stock packs' check speech (measured once per model cache)."""
        if self._judge is not None:
            self._judge.warm()
            self._stock.check_speech(CHECK_SENTENCE, self._judge)

    def closest(self, reference: DecodedAudio) -> PreparedVoice:
        """No search: the stock pack whose pitch and timbre are closest to the reference."""
        target = voice_features(reference.samples, reference.sample_rate)
        scores = {
            pack: distance(target, features) for pack, features in self._stock.features().items() if pack in self._packs
        }
        best = min(scores, key=scores.__getitem__)
        return PreparedVoice(
            meta={"pack": best, "match_distance": round(scores[best], 4), "reference_f0": round(target.median_f0, 1)},
            summary=f"no cloning search ({self._no_search_reason()}); it speaks with the closest stock voice, {best}",
        )

    def _no_search_reason(self) -> str:
        if self._judge is None:
            return "install the cloning extra: pip install 'megatts3-server[cloning]'"
        return "model.cloning budget is 0"

    def search(
        self,
        reference: DecodedAudio,
        *,
        budget_seconds: float,
        progress: EnrollmentProgress | None,
        cancel: CancelToken | None,
    ) -> PreparedVoice:
        """A style pack searched towards the reference speaker within ``budget_seconds`` (everything
        from here counted, the reference's embedding too)."""
        started = time.perf_counter()
        judge = self._judge
        assert judge is not None
        scoring, check = self._phonemize(SCORING_SENTENCE), self._phonemize(CHECK_SENTENCE)
        search = StyleSearch(
            self._packs,
            speak=lambda table: self._speak(scoring, table, cancel),
            speak_check=lambda table: self._speak(check, table, cancel),
            embed=lambda audio: judge.embed(audio, self._rate),
            target=judge.embed(reference.samples, reference.sample_rate),
            sample_rate=self._rate,
            settings=dataclasses.replace(self._search, budget_seconds=budget_seconds),
            stock=self._stock.check_speech(CHECK_SENTENCE, judge),
            started=started,
        )
        result = search.run(progress, cancel)
        log.info(
            "enrolled a voice from %s: similarity %.3f -> %.3f in %d syntheses, %.1f s",
            result.start,
            result.start_similarity,
            result.similarity,
            result.evaluations,
            result.seconds,
        )
        start = identity(VoiceContext("", {"start": result.start}))
        meta = {
            # Whose prosody the voice has (the search moves only the timbre half): prosody.py
            "language": start.language,
            "gender": start.gender,
            "start": result.start,
            "start_similarity": round(result.start_similarity, 4),
            "similarity": round(result.similarity, 4),
            "evaluations": result.evaluations,
            "enroll_seconds": round(result.seconds, 1),
        }
        similarity = f"similarity {result.start_similarity:.2f} -> {result.similarity:.2f}"
        unchanged = result.start in self._packs and np.array_equal(result.style, self._packs[result.start])
        # The table is stored even where nothing beat the closest pack: a voice's files never depend on
        # how many candidates the budget allowed (and the pack set may change under a stored voice).
        return PreparedVoice(
            meta={**meta, "search_kept_start": unchanged},
            arrays={"style": result.style},
            summary=(
                f"the stock voice {result.start} is the closest to the reference speaker ({similarity})"
                if unchanged
                else f"a style pack searched from {result.start} towards the reference speaker ({similarity})"
            ),
            similarity=result.similarity,
        )
