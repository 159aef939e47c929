"""Floats ↔ Z_{2^b}: clip, scale, unbiased stochastic rounding, two's-complement embedding.

Sums of up to ``max_summands`` encodings decode exactly (as integers) as long as
``max_summands · (clip·scale + 1 + noise_bound) < 2^(b−1)``; the +1 is stochastic rounding's
ceiling and ``noise_bound`` leaves room for integer DP noise added after encoding. The encoder
checks that bound on construction and says which parameter to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .csprng import RandomSource, resolve
from .errors import EncodingError
from .prg import dtype_for_bits

_UNIT = 2.0**-53


@dataclass(frozen=True, kw_only=True)
class FixedPointEncoder:
    """Fixed-point codec for vectors whose sum over ``max_summands`` clients must not wrap."""

    bits: int
    clip: float
    scale: float
    max_summands: int
    noise_bound: float = 0.0

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        for name in ("clip", "scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise EncodingError(f"{name} must be a positive finite number, got {value!r}")
        if not (isinstance(self.max_summands, int) and self.max_summands >= 1):
            raise EncodingError(f"max_summands must be an integer >= 1, got {self.max_summands!r}")
        if not (math.isfinite(self.noise_bound) and self.noise_bound >= 0):
            raise EncodingError(f"noise_bound must be finite and >= 0, got {self.noise_bound!r}")
        self._check_headroom()

    def _check_headroom(self) -> None:
        per_client = self.clip * self.scale + 1 + self.noise_bound
        worst = self.max_summands * per_client
        limit = 2.0 ** (self.bits - 1)
        if worst < limit:
            return
        need_bits = math.floor(math.log2(worst)) + 2
        max_scale = ((limit / self.max_summands) - 1 - self.noise_bound) / self.clip
        max_n = math.floor((limit - 1) / per_client)
        hint = [f"raise bits to >= {need_bits}" if need_bits <= 64 else "bits cannot exceed 64"]
        if max_scale > 0:
            hint.append(f"or lower scale to < {max_scale:.6g}")
        if max_n >= 1:
            hint.append(f"or lower max_summands to <= {max_n}")
        raise EncodingError(
            f"a sum of {self.max_summands} encodings can reach {worst:.6g}, which does not fit "
            f"in the signed range of {self.bits} bits (2^{self.bits - 1}): " + ", ".join(hint)
        )

    @classmethod
    def fit(
        cls, bits: int, clip: float, max_summands: int, noise_bound: float = 0.0
    ) -> FixedPointEncoder:
        """The encoder with the largest scale (finest resolution) that cannot overflow."""
        _check_bits(bits)
        room = (2.0 ** (bits - 1)) * (1 - 2.0**-40) / max(int(max_summands), 1) - 1 - noise_bound
        if not (clip > 0 and room > 0):
            raise EncodingError(
                f"{bits} bits leave no room for {max_summands} summands with noise bound "
                f"{noise_bound}: raise bits or lower max_summands"
            )
        return cls(bits=bits, clip=clip, scale=room / clip, max_summands=int(max_summands),
                   noise_bound=noise_bound)

    @property
    def resolution(self) -> float:
        """Worst-case rounding error of one coordinate of one encoding (1/scale)."""
        return 1.0 / self.scale

    def encode(self, x: np.ndarray, rng: RandomSource | None = None) -> np.ndarray:
        """Clip to [−clip, clip], scale, round stochastically and embed in Z_{2^bits}."""
        values = np.asarray(x, dtype=np.float64)
        if not np.isfinite(values).all():
            raise EncodingError("cannot encode NaN or infinite values")
        scaled = np.clip(values, -self.clip, self.clip) * self.scale
        return embed_signed(stochastic_round(scaled, rng), self.bits)

    def decode_sum(self, y: np.ndarray, count: int = 1) -> np.ndarray:
        """Decode the modular sum of ``count`` encodings back to floats."""
        if not 1 <= count <= self.max_summands:
            raise EncodingError(f"count must be in [1, {self.max_summands}], got {count}")
        return unembed_signed(y, self.bits).astype(np.float64) / self.scale


def stochastic_round(x: np.ndarray, rng: RandomSource | None = None) -> np.ndarray:
    """Round each value down or up with probability equal to its distance to the other side.

    Unbiased up to 2^-53: the uniforms are 53-bit fractions of CSPRNG words.
    """
    values = np.asarray(x, dtype=np.float64)
    words = np.empty(values.shape, dtype=np.uint64)
    resolve(rng).fill(words)
    uniforms = (words >> np.uint64(11)).astype(np.float64) * _UNIT
    low = np.floor(values)
    return low.astype(np.int64) + (uniforms < values - low)


def embed_signed(ints: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement embedding of signed integers in Z_{2^bits}; refuses values that wrap."""
    dtype = dtype_for_bits(bits)
    values = np.asarray(ints)
    if values.dtype.kind not in "iu":
        raise EncodingError(f"embed_signed needs integers, got {values.dtype}")
    values = values.astype(np.int64)
    half = 1 << (bits - 1)
    if values.size and (values.min() < -half or values.max() > half - 1):
        raise EncodingError(f"values must lie in [-2^{bits - 1}, 2^{bits - 1}) to embed in {bits} bits")
    mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(2**64 - 1)
    return (values.view(np.uint64) & mask).astype(dtype)


def unembed_signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`embed_signed`: residues mod 2^bits → signed int64 in [−2^(b−1), 2^(b−1))."""
    _check_bits(bits)
    raw = np.asarray(values).astype(np.uint64)
    if bits == 64:
        return raw.view(np.int64).copy()
    if raw.size and raw.max() >> np.uint64(bits):
        raise EncodingError(f"values must be residues mod 2^{bits}")
    half = np.int64(1 << (bits - 1))
    return (raw.astype(np.int64) ^ half) - half  # sign-extend bit b-1


def _check_bits(bits: int) -> None:
    if not (isinstance(bits, int) and 8 <= bits <= 64):
        raise EncodingError(f"bits must be an integer in [8, 64], got {bits!r}")
