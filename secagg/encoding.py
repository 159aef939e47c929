"""Floats ↔ Z_{2^b}: clip, scale, unbiased stochastic rounding, two's-complement embedding.

Sums of up to ``max_summands`` encodings decode exactly (as integers) as long as
``max_summands · (clip·scale + 1 + noise_bound) < 2^(b−1)``; the +1 is stochastic rounding's
ceiling and ``noise_bound`` leaves room for integer DP noise added after encoding. The encoder
checks that bound on construction, in exact rational arithmetic on the float64 values it will
compute with, and says which parameter to change.

Precision above 53 bits: encoding multiplies in float64, so once |x·scale| >= 2^53 the product is
already an integer (rounded to nearest, relative error <= 2^-53) and stochastic rounding has
nothing left to round; decoding converts int64 sums to float64 with the same relative error.
Larger moduli therefore buy headroom for many summands or noise, not resolution beyond float64.

An encoder and a round's config must agree: ``bits`` equal to the round's ``modulus_bits`` and
``max_summands`` at least its client count. :meth:`FixedPointEncoder.for_round` builds the encoder
from the config, and ``encode``/``decode_sum`` take ``config=`` to refuse one that does not fit.
The config is duck-typed (anything with ``modulus_bits`` and ``client_ids``, as
``protocols.SecAggConfig``): this module sits below ``protocols`` and does not import it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from .csprng import RandomSource, resolve
from .errors import EncodingError
from .prg import dtype_for_bits

_UNIT = 2.0**-53


class RoundShape(Protocol):
    """What the encoder reads from a round's config (``protocols.SecAggConfig`` has both)."""

    @property
    def modulus_bits(self) -> int: ...

    @property
    def client_ids(self) -> Sequence[int]: ...


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
        per_client = _per_client(self.clip, self.scale, self.noise_bound)
        worst = self.max_summands * per_client
        limit = 1 << (self.bits - 1)
        if worst < limit:
            return
        need_bits = math.floor(worst).bit_length() + 1  # smallest b with 2^(b-1) > worst
        hint = [f"raise bits to >= {need_bits}" if need_bits <= 64 else "bits cannot exceed 64"]
        max_scale = _largest_scale(self.bits, self.clip, self.max_summands, self.noise_bound)
        if max_scale is not None:
            hint.append(f"or lower scale to <= {max_scale!r}")
        max_n = math.ceil(limit / per_client) - 1
        if max_n >= 1:
            hint.append(f"or lower max_summands to <= {max_n}")
        room = Fraction(limit, self.max_summands) - 1 - _product(self.clip, self.scale)
        if self.noise_bound > 0 and room > 0:
            hint.append(f"or lower noise_bound to < {float(room):.6g}")
        raise EncodingError(
            f"a sum of {self.max_summands} encodings can reach {float(worst):.6g}, which does not "
            f"fit in the signed range of {self.bits} bits (2^{self.bits - 1}): " + ", ".join(hint)
        )

    @classmethod
    def fit(
        cls, bits: int, clip: float, max_summands: int, noise_bound: float = 0.0
    ) -> FixedPointEncoder:
        """The encoder with the largest float64 scale (finest resolution) that cannot overflow.

        That is the largest ``scale`` with ``max_summands·(clip·scale + 1 + noise_bound) <
        2^(bits-1)`` checked exactly; sums then use the whole signed range of ``bits``.
        """
        _check_bits(bits)
        try:
            max_summands = operator.index(max_summands)
        except TypeError:
            raise EncodingError(f"max_summands must be an integer, got {max_summands!r}") from None
        if max_summands < 1:
            raise EncodingError(f"max_summands must be >= 1, got {max_summands}")
        if not (math.isfinite(clip) and clip > 0):
            raise EncodingError(f"clip must be a positive finite number, got {clip!r}")
        if not (math.isfinite(noise_bound) and noise_bound >= 0):
            raise EncodingError(f"noise_bound must be finite and >= 0, got {noise_bound!r}")
        scale = _largest_scale(bits, clip, max_summands, noise_bound)
        if scale is None:
            floor_need = math.floor(max_summands * (1 + Fraction(noise_bound))).bit_length() + 1
            raise EncodingError(
                f"{bits} bits leave no room for {max_summands} summands with noise bound "
                f"{noise_bound}: raise bits to >= {floor_need}, or lower max_summands or noise_bound"
            )
        return cls(bits=bits, clip=clip, scale=scale, max_summands=max_summands,
                   noise_bound=noise_bound)

    @classmethod
    def for_round(cls, config: RoundShape, clip: float, noise_bound: float = 0.0
                  ) -> FixedPointEncoder:
        """The finest encoder for ``config``'s round: its ``modulus_bits``, and room for the sum
        of all its clients (:meth:`fit` with both read from the config, so they cannot disagree)."""
        bits, n = _round_shape(config)
        return cls.fit(bits, clip, n, noise_bound)

    def check(self, config: RoundShape) -> None:
        """Refuse a round this encoder does not fit (``EncodingError`` naming both values): its
        sums are taken mod 2^modulus_bits, so the widths must be equal, and it may sum every client."""
        bits, n = _round_shape(config)
        if bits != self.bits:
            raise EncodingError(
                f"encoder bits={self.bits} but the round's config has modulus_bits={bits}: "
                f"sums are taken mod 2^{bits} and would not decode; build the encoder with "
                f"FixedPointEncoder.for_round(config, clip) or fit it with bits={bits}"
            )
        if n > self.max_summands:
            raise EncodingError(
                f"encoder max_summands={self.max_summands} but the round has {n} clients: their "
                f"sum could wrap; build the encoder with FixedPointEncoder.for_round(config, clip)"
            )

    @property
    def resolution(self) -> float:
        """Worst-case rounding error of one coordinate of one encoding (1/scale)."""
        return 1.0 / self.scale

    def encode(self, x: np.ndarray, rng: RandomSource | None = None, *,
               config: RoundShape | None = None) -> np.ndarray:
        """Clip to [−clip, clip], scale, round stochastically and embed in Z_{2^bits}; with
        ``config``, first refuse a round the encoder does not fit (:meth:`check`)."""
        if config is not None:
            self.check(config)
        values = np.asarray(x, dtype=np.float64)
        if not np.isfinite(values).all():
            raise EncodingError("cannot encode NaN or infinite values")
        scaled = np.clip(values, -self.clip, self.clip) * self.scale
        return embed_signed(stochastic_round(scaled, rng), self.bits)

    def decode_sum(self, y: np.ndarray, count: int = 1, *,
                   config: RoundShape | None = None) -> np.ndarray:
        """Decode the modular sum of ``count`` encodings back to floats; with ``config``, first
        refuse a round the encoder does not fit (:meth:`check`)."""
        if config is not None:
            self.check(config)
        if not 1 <= count <= self.max_summands:
            raise EncodingError(f"count must be in [1, {self.max_summands}], got {count}")
        return unembed_signed(y, self.bits).astype(np.float64) / self.scale


def stochastic_round(x: np.ndarray, rng: RandomSource | None = None) -> np.ndarray:
    """Round each value down or up with probability equal to its distance to the other side.

    floor(x) + (u < frac(x)) with u a 53-bit uniform from CSPRNG words, so E[result] = x up to
    2^-53 (frac(x) = x - floor(x) is exact in float64).
    """
    values = np.asarray(x, dtype=np.float64)
    if values.size and not (np.isfinite(values).all() and np.abs(values).max() < 2.0**63):
        raise EncodingError("stochastic_round needs finite values with |x| < 2^63")
    words = np.empty(values.shape, dtype=np.uint64)
    resolve(rng).fill(words)
    uniforms = (words >> np.uint64(11)).astype(np.float64) * _UNIT
    low = np.floor(values)
    return low.astype(np.int64) + (uniforms < values - low)


def embed_signed(ints: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement embedding of signed integers in Z_{2^bits}; refuses values that wrap."""
    _check_bits(bits)
    dtype = dtype_for_bits(bits)
    values = np.asarray(ints)
    if values.dtype.kind not in "iu":
        raise EncodingError(f"embed_signed needs integers, got {values.dtype}")
    if values.dtype == np.uint64 and values.size and values.max() >= np.uint64(1 << 63):
        raise EncodingError(f"values must lie in [-2^{bits - 1}, 2^{bits - 1}) to embed in {bits} bits")
    values = values.astype(np.int64)
    half = 1 << (bits - 1)
    if values.size and (values.min() < -half or values.max() > half - 1):
        raise EncodingError(f"values must lie in [-2^{bits - 1}, 2^{bits - 1}) to embed in {bits} bits")
    mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(2**64 - 1)
    return (values.view(np.uint64) & mask).astype(dtype)


def unembed_signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`embed_signed`: residues mod 2^bits → signed int64 in [−2^(b−1), 2^(b−1))."""
    _check_bits(bits)
    raw = np.asarray(values)
    if raw.dtype.kind not in "iu":
        raise EncodingError(f"unembed_signed needs integer residues, got {raw.dtype}")
    if raw.dtype.kind == "i" and raw.size and raw.min() < 0:
        raise EncodingError(f"values must be residues mod 2^{bits}")
    raw = raw.astype(np.uint64)
    if bits == 64:
        return raw.view(np.int64).copy()
    if raw.size and raw.max() >> np.uint64(bits):
        raise EncodingError(f"values must be residues mod 2^{bits}")
    half = np.int64(1 << (bits - 1))
    return (raw.astype(np.int64) ^ half) - half  # sign-extend bit b-1


def _product(clip: float, scale: float) -> Fraction:
    """Exact upper bound of |x·scale| for |x| <= clip: the real product or its float64 rounding."""
    return max(Fraction(clip) * Fraction(scale), Fraction(clip * scale))


def _per_client(clip: float, scale: float, noise_bound: float) -> Fraction:
    """Largest |encoding| of one client, exactly: scaled clip, +1 for rounding up, plus noise."""
    return _product(clip, scale) + 1 + Fraction(noise_bound)


def _largest_scale(bits: int, clip: float, n: int, noise_bound: float) -> float | None:
    """Largest float64 scale whose worst-case sum of n encodings fits, or None if none does."""
    room = Fraction(1 << (bits - 1), n) - 1 - Fraction(noise_bound)
    if room <= 0:
        return None
    scale = float(room / Fraction(clip))
    for _ in range(10_000):  # the float estimate is a few ulps from the exact boundary
        if scale > 0 and n * _per_client(clip, scale, noise_bound) < (1 << (bits - 1)):
            return scale
        scale = math.nextafter(scale, 0.0)
    return None


def _round_shape(config: RoundShape) -> tuple[int, int]:
    """(modulus bits, client count) of a round's config, or ``EncodingError`` if it has none."""
    try:
        return operator.index(config.modulus_bits), len(config.client_ids)
    except (AttributeError, TypeError):
        raise EncodingError(
            f"expected a round config with modulus_bits and client_ids (a protocols.SecAggConfig), "
            f"got {type(config).__name__}"
        ) from None


def _check_bits(bits: int) -> None:
    if not (isinstance(bits, int) and 8 <= bits <= 64):
        raise EncodingError(f"bits must be an integer in [8, 64], got {bits!r}")
