"""Reading a reference's WaveVAE latent (.npy) safely."""

from __future__ import annotations

import io

import numpy as np

from megatts3_server.errors import InvalidLatentError

# MegaTTS3 latents are (1, T, 32) at 25 frames/s: 10 minutes is 15 000 frames. Anything far larger
# is not a latent of a reference recording.
MAX_LATENT_VALUES = 32 * 15_000


def parse_latent(data: bytes) -> np.ndarray:
    """Load a .npy latent without pickle; numeric, finite, 2-D or 3-D, of sane size; returned as float32."""
    if not data:
        raise InvalidLatentError("voice_latent is empty")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise InvalidLatentError(
            f"voice_latent is not a plain .npy array (pickled objects are refused): {exc}"
        ) from exc
    except (OSError, EOFError) as exc:
        raise InvalidLatentError(f"voice_latent is not a valid .npy file: {exc}") from exc
    return check_latent_array(array)


def check_latent_array(array: object) -> np.ndarray:
    """A latent array as float32: numeric, finite, 2-D or 3-D, of sane size (else InvalidLatentError)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise InvalidLatentError(f"voice_latent must hold numbers, not {getattr(array, 'dtype', type(array))}")
    if array.ndim not in (2, 3) or array.size == 0:
        raise InvalidLatentError(f"voice_latent must have shape (T, C) or (1, T, C), got {array.shape}")
    if array.size > MAX_LATENT_VALUES:
        raise InvalidLatentError(f"voice_latent is too large ({array.size} values, at most {MAX_LATENT_VALUES})")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InvalidLatentError("voice_latent contains NaN or infinite values")
    return array
