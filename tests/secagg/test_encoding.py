"""Encoding: sums decode within the rounding bound, rounding is unbiased, overflow is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from secagg.csprng import AesCtrRandom
from secagg.encoding import FixedPointEncoder, embed_signed, stochastic_round, unembed_signed
from secagg.errors import EncodingError


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 64), st.integers(1, 40), st.integers(1, 50), st.floats(0.01, 100), st.data())
def test_sum_of_encodings_decodes_within_rounding_bound(bits, n, m, clip, data) -> None:
    try:
        enc = FixedPointEncoder.fit(bits, clip, n)
    except EncodingError:
        return  # too few bits for n summands: refusing is the right answer
    vals = [data.draw(arrays(np.float64, m, elements=st.floats(-2 * clip, 2 * clip))) for _ in range(n)]
    rng = AesCtrRandom(b"e" * 32)
    total = np.zeros(m, dtype=np.uint64)
    for v in vals:
        total = (total + enc.encode(v, rng).astype(np.uint64))
    if bits < 64:
        total &= np.uint64((1 << bits) - 1)
    truth = sum(np.clip(v, -clip, clip) for v in vals)
    err = np.abs(enc.decode_sum(total, n) - truth)
    assert (err <= n / enc.scale + 1e-9 * np.abs(truth) + 1e-12).all()


def test_stochastic_rounding_is_unbiased() -> None:
    # Mean of 200k roundings of 0.3 is 0.3 ± 4.9σ (σ = sqrt(0.21/2e5)): false alarm ≈ 1e-6.
    x = np.full(200_000, 0.3)
    r = stochastic_round(x, AesCtrRandom(b"u" * 32))
    assert set(np.unique(r)) <= {0, 1}
    assert abs(r.mean() - 0.3) < 4.9 * np.sqrt(0.21 / 200_000)


@given(st.integers(8, 64), st.data())
def test_signed_embedding_round_trips(bits, data) -> None:
    half = 1 << (bits - 1)
    v = np.array(data.draw(st.lists(st.integers(-half, half - 1), min_size=1, max_size=20)))
    assert (unembed_signed(embed_signed(v, bits), bits) == v).all()
    with pytest.raises(EncodingError):
        embed_signed(np.array([half]) if bits < 64 else np.array([1.5]), bits)


@given(st.integers(8, 40), st.integers(1, 10_000), st.floats(0.1, 10), st.floats(0, 100))
def test_overflow_is_refused_and_names_a_fix(bits, n, clip, noise) -> None:
    per = (2 ** (bits - 1)) / n  # exactly at the bound: must be refused
    with pytest.raises(EncodingError, match="raise bits|lower"):
        FixedPointEncoder(bits=bits, clip=clip, scale=max(per / clip, 1e-9) * 1.0001,
                          max_summands=n, noise_bound=noise)


def test_wraparound_would_be_wrong_without_the_check() -> None:
    enc = FixedPointEncoder.fit(16, 1.0, 4)
    with pytest.raises(EncodingError, match="count"):
        enc.decode_sum(np.zeros(3, dtype=np.uint32), count=5)
    with pytest.raises(EncodingError):
        enc.encode(np.array([np.nan]))
