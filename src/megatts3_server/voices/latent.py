"""Reading a reference's WaveVAE latent (.npy) safely.

The header is read and checked (dtype, shape, size, that the data is all there) before anything is
allocated, so a file that declares a huge shape costs nothing; the values are then read without
pickle. Each fault gets its own message.
"""

from __future__ import annotations

import io
import math

import numpy as np

from megatts3_server.errors import InvalidLatentError

# MegaTTS3 latents are (1, T, 32) at 25 frames/s: 10 minutes is 15 000 frames. Anything far larger
# is not a latent of a reference recording.
LATENT_CHANNELS = 32
MAX_LATENT_FRAMES = 15_000
MAX_LATENT_VALUES = LATENT_CHANNELS * MAX_LATENT_FRAMES
# A real header is ~128 bytes; numpy's own default bound.
_MAX_HEADER_BYTES = 10_000
_SHAPE_HINT = f"(1, T, {LATENT_CHANNELS}) or (T, {LATENT_CHANNELS})"


def parse_latent(data: bytes) -> np.ndarray:
    """A .npy latent as float32 (1, T, 32) or (T, 32): plain numbers, finite, of sane size."""
    if not data:
        raise InvalidLatentError("voice_latent is empty")
    stream = io.BytesIO(data)
    dtype, shape, fortran = _read_header(stream)
    _check_declared(dtype, shape)
    values = data[stream.tell() :]
    expected = math.prod(shape) * dtype.itemsize
    if len(values) < expected:
        raise InvalidLatentError(
            f"voice_latent is cut off: its header declares {expected} bytes of data but {len(values)} follow"
        )
    array = np.frombuffer(values, dtype=dtype, count=math.prod(shape))
    array = array.reshape(shape, order="F" if fortran else "C")
    return check_latent_array(array)


def _read_header(stream: io.BytesIO) -> tuple[np.dtype, tuple[int, ...], bool]:
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError as exc:
        raise InvalidLatentError(f"voice_latent is not a .npy file (no NumPy magic header): {exc}") from exc
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise InvalidLatentError(f"voice_latent is .npy format version {version}; versions 1.0 and 2.0 are read")
    try:
        shape, fortran, dtype = readers[version](stream, max_header_size=_MAX_HEADER_BYTES)
    except (ValueError, TypeError, SyntaxError, OverflowError) as exc:
        raise InvalidLatentError(f"voice_latent has a malformed .npy header: {exc}") from exc
    return dtype, tuple(int(n) for n in shape), bool(fortran)


def _check_declared(dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """What the header declares, checked before anything is read or allocated."""
    if dtype.hasobject:
        raise InvalidLatentError("voice_latent holds Python objects (a pickle); only plain numbers are read")
    if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None:
        raise InvalidLatentError(f"voice_latent must hold plain numbers, not {dtype}")
    if any(n < 0 for n in shape):
        raise InvalidLatentError(f"voice_latent has a malformed .npy header: negative shape {shape}")
    if len(shape) not in (2, 3):
        raise InvalidLatentError(f"voice_latent must have shape {_SHAPE_HINT}, got {shape}")
    if math.prod(shape) > MAX_LATENT_VALUES:
        raise InvalidLatentError(
            f"voice_latent declares shape {shape}, {math.prod(shape)} values; at most {MAX_LATENT_VALUES} "
            f"({MAX_LATENT_FRAMES} frames, 10 minutes) are accepted"
        )


def check_latent_array(array: object) -> np.ndarray:
    """A latent array as float32 (1, T, 32) or (T, 32): numeric, finite, of sane size (else InvalidLatentError)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise InvalidLatentError(f"voice_latent must hold numbers, not {getattr(array, 'dtype', type(array))}")
    shaped = array.ndim == 2 or (array.ndim == 3 and array.shape[0] == 1)
    if not shaped or array.size == 0:
        raise InvalidLatentError(f"voice_latent must have shape {_SHAPE_HINT}, got {array.shape}")
    if array.shape[-1] != LATENT_CHANNELS:
        raise InvalidLatentError(
            f"voice_latent has {array.shape[-1]} channels; a WaveVAE latent has {LATENT_CHANNELS} "
            f"(shape {_SHAPE_HINT}, got {array.shape})"
        )
    if array.size > MAX_LATENT_VALUES:
        raise InvalidLatentError(f"voice_latent is too large ({array.size} values, at most {MAX_LATENT_VALUES})")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InvalidLatentError("voice_latent contains NaN or infinite values")
    return array
