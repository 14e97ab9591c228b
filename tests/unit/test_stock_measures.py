"""The stock packs' measures are taken once (engines/kokoro/stock_voices.py): rows shipped with the
package or kept in the model cache are used while what they depend on is unchanged; a changed pack,
model or sentence is measured again. Without the model: speech is a stand-in that depends on the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from megatts3_server.engines.kokoro import stock_voices
from megatts3_server.engines.kokoro.stock_voices import StockMeasures

RATE = 16_000
SENTENCE = "We walked along the quiet river."


class Speech:
    """Speaks a table as a tone whose pitch follows the table, and counts what it spoke."""

    def __init__(self) -> None:
        self.spoken = 0

    def __call__(self, text: str, table: np.ndarray) -> np.ndarray:
        self.spoken += 1
        t = np.arange(RATE) / RATE
        return (0.3 * np.sin(2 * np.pi * (120 + 10 * float(table.mean())) * t)).astype(np.float32)


class Judge:
    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray:
        return np.array([audio.std(), audio.max(), 1.0], np.float32)


def _packs(*shift: float) -> dict[str, np.ndarray]:
    return {f"xf_{i}": np.full((510, 256), value, np.float32) for i, value in enumerate(shift)}


def _measures(folder: Path, packs: dict, speech: Speech, model: str = "model-a") -> StockMeasures:
    return StockMeasures(folder, packs, speech, lambda text: text.lower(), model, RATE)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "shipped.npz"
    monkeypatch.setattr(stock_voices, "_shipped", lambda: path)
    return path


def test_shipped_rows_are_used_and_nothing_is_spoken(tmp_path: Path, shipped: Path) -> None:
    packs = _packs(0.0, 1.0, 2.0)
    writer = Speech()
    assert _measures(tmp_path / "build", packs, writer).write_shipped(Judge(), (SENTENCE,), shipped) == 6
    speech = Speech()
    measures = _measures(tmp_path / "cache", packs, speech)
    features = measures.features()
    assert set(features) == set(packs) and speech.spoken == 0
    assert set(measures.embeddings(SENTENCE)) == set(packs) and speech.spoken == 0
    checks = measures.check_speech(SENTENCE, Judge())
    assert speech.spoken == 1  # only to time one check: the search's first guess of what one costs
    assert all(check.cost > 0 for check in checks.values())
    assert not (tmp_path / "cache").exists()  # nothing new to keep


def test_a_changed_pack_is_measured_again_and_kept_for_the_next_start(tmp_path: Path, shipped: Path) -> None:
    _measures(tmp_path / "build", _packs(0.0, 1.0), Speech()).write_shipped(Judge(), (SENTENCE,), shipped)
    changed = _packs(0.0, 5.0)
    speech = Speech()
    first = _measures(tmp_path / "cache", changed, speech).features()
    assert speech.spoken == 1  # xf_1 only: xf_0 is the shipped one
    again = Speech()
    second = _measures(tmp_path / "cache", changed, again).features()
    assert again.spoken == 0 and second["xf_1"].median_f0 == first["xf_1"].median_f0


def test_another_model_or_sentence_is_not_the_shipped_rows(tmp_path: Path, shipped: Path) -> None:
    packs = _packs(0.0)
    _measures(tmp_path / "build", packs, Speech()).write_shipped(Judge(), (SENTENCE,), shipped)
    assert _measures(tmp_path / "c1", packs, Speech(), model="model-b").embeddings(SENTENCE) == {}
    assert _measures(tmp_path / "c2", packs, Speech()).embeddings("Another sentence.") == {}
