"""A reference's .npy latent: read without pickle, every header checked before anything is allocated,
and each fault named for what it is."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest

from megatts3_server.errors import InvalidLatentError
from megatts3_server.voices.latent import parse_latent


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _header_only(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).ljust(117) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


LATENT = np.random.default_rng(0).standard_normal((1, 50, 32)).astype(np.float32)


@pytest.mark.parametrize(
    "array",
    [LATENT, LATENT[0], np.asfortranarray(LATENT[0]), LATENT.astype(">f4"), LATENT.astype(np.float64)],
    ids=["1xTx32", "Tx32", "fortran", "big-endian", "float64"],
)
def test_good_latents_read_as_their_values(array: np.ndarray) -> None:
    parsed = parse_latent(_npy(array))
    assert parsed.dtype == np.float32 and parsed.shape == array.shape
    np.testing.assert_allclose(parsed, array, rtol=1e-6)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_header_only((1, 10**12, 32)), "declares shape"),
        (_header_only((1, 10**9, 1)), "declares shape"),
        (_npy(np.array([{"evil": 1}], dtype=object)), "Python objects"),
        (_npy(np.zeros((1, 10, 7), np.float32)), "7 channels"),
        (_npy(np.full((1, 10, 32), np.nan, np.float32)), "NaN"),
        (_npy(np.float32(1.0)), "shape"),
        (_npy(np.zeros((1, 1, 10, 32), np.float32)), "shape"),
        (_npy(np.zeros((2, 10, 32), np.float32)), "shape"),
        (_npy(LATENT)[:200], "cut off"),
        (b"hello", "not a .npy file"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n", "malformed .npy header"),
        (_header_only((1, -5, 32)), "malformed .npy header"),
        (_npy(np.array(["a", "b"])), "plain numbers"),
        (_npy(np.zeros((1, 3, 32), complex)), "plain numbers"),
        (b"\x93NUMPY\x03\x00" + b"\0" * 20, "version"),
        (b"", "empty"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_fault_has_its_own_message(data: bytes, words: str) -> None:
    with pytest.raises(InvalidLatentError) as refused:
        parse_latent(data)
    assert words in refused.value.message
    assert "pickled" not in refused.value.message or words == "Python objects"


def test_a_huge_declared_shape_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidLatentError):
            parse_latent(_header_only((1, 10**9, 32)) + b"\0" * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
