"""Encoding: sums decode within the rounding bound, rounding is unbiased, overflow is refused."""

from __future__ import annotations

import re
from types import SimpleNamespace

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


@pytest.mark.parametrize("value", [0.3, -2.7, 5.999, 1e6 + 0.5, -3.0])
def test_stochastic_rounding_is_unbiased(value: float) -> None:
    # Mean of 200k roundings lies within 4.9σ of x (σ = sqrt(f(1-f)/2e5), f = frac(x)): a
    # correct rounding fails with probability ≈ 1e-6 per value; the seed is fixed.
    x = np.full(200_000, value)
    r = stochastic_round(x, AesCtrRandom(b"u" * 32))
    low, frac = np.floor(value), value - np.floor(value)
    assert set(np.unique(r).tolist()) <= {int(low), int(low) + 1}
    assert abs(r.mean() - value) <= 4.9 * np.sqrt(frac * (1 - frac) / 200_000)


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


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 64), st.integers(1, 1000), st.floats(1e-3, 1e3), st.floats(0, 50))
def test_fit_is_the_largest_scale_and_worst_case_sums_do_not_wrap(bits, n, clip, noise) -> None:
    try:
        enc = FixedPointEncoder.fit(bits, clip, n, noise)
    except EncodingError:
        assert n * (1 + noise) >= 2 ** (bits - 1)  # refused only when no scale can work
        return
    with pytest.raises(EncodingError):  # the next float up is already unsafe
        FixedPointEncoder(bits=bits, clip=clip, scale=np.nextafter(enc.scale, np.inf),
                          max_summands=n, noise_bound=noise)
    rng = AesCtrRandom(b"w" * 32)
    for sign in (1, -1):  # n clients all at the clip edge plus the full noise: no wrap-around
        edge = unembed_signed(enc.encode(np.array([sign * clip] * 4), rng), bits)
        total = [sum(int(v) for v in [edge[i]] * n) + sign * n * int(noise) for i in range(4)]
        wrapped = [((v + 2 ** (bits - 1)) % 2**bits) - 2 ** (bits - 1) for v in total]
        assert wrapped == total


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 40), st.integers(1, 5000), st.floats(0.1, 10), st.floats(1, 1e6),
       st.floats(0, 100))
def test_overflow_hints_name_values_that_work(bits, n, clip, scale, noise) -> None:
    kwargs = {"bits": bits, "clip": clip, "scale": scale, "max_summands": n, "noise_bound": noise}
    try:
        FixedPointEncoder(**kwargs)
        return
    except EncodingError as exc:
        message = str(exc)
    for key, pattern, cast in (("bits", r"raise bits to >= (\d+)", int),
                               ("scale", r"lower scale to <= ([0-9.e+-]+)", float),
                               ("max_summands", r"lower max_summands to <= (\d+)", int)):
        m = re.search(pattern, message)
        if m is None:
            continue
        fixed = cast(m.group(1))
        FixedPointEncoder(**{**kwargs, key: fixed})  # the suggested value is accepted
        tighter = {"bits": fixed - 1, "max_summands": fixed + 1,
                   "scale": float(np.nextafter(fixed, np.inf))}[key]
        with pytest.raises(EncodingError):  # and it is the limit
            FixedPointEncoder(**{**kwargs, key: tighter})


def test_embedding_refuses_inputs_that_would_wrap_silently() -> None:
    with pytest.raises(EncodingError):
        embed_signed(np.array([2**63], dtype=np.uint64), 64)
    with pytest.raises(EncodingError):
        unembed_signed(np.array([1.0]), 16)
    with pytest.raises(EncodingError):
        unembed_signed(np.array([-1]), 16)
    with pytest.raises(EncodingError):
        embed_signed(np.array([1]), 65)
    with pytest.raises(EncodingError):
        stochastic_round(np.array([np.inf]))
    with pytest.raises(EncodingError):
        stochastic_round(np.array([2.0**63]))


def _round(bits: int, n: int) -> SimpleNamespace:
    """A round config as the encoder sees it (duck-typed: secagg does not import protocols)."""
    return SimpleNamespace(modulus_bits=bits, client_ids=tuple(range(1, n + 1)))


def test_an_encoder_of_another_width_than_the_round_is_refused_naming_both() -> None:
    narrow = FixedPointEncoder.fit(16, 1.0, 4)
    x = np.array([0.5, -0.25])
    for call in (lambda: narrow.check(_round(32, 4)),
                 lambda: narrow.encode(x, config=_round(32, 4)),
                 lambda: narrow.decode_sum(np.zeros(2, dtype=np.uint16), 4, config=_round(32, 4))):
        with pytest.raises(EncodingError, match=r"bits=16 .*modulus_bits=32"):
            call()
    narrow.check(_round(16, 4))  # the same width and no more clients than max_summands: fine
    narrow.check(_round(16, 3))


def test_an_encoder_fitted_for_fewer_clients_than_the_round_is_refused() -> None:
    enc = FixedPointEncoder.fit(32, 1.0, 4)
    with pytest.raises(EncodingError, match="max_summands=4 but the round has 5 clients"):
        enc.encode(np.zeros(3), config=_round(32, 5))


def test_for_round_reads_bits_and_clients_from_a_real_config() -> None:
    from protocols import SecAggConfig  # noqa: PLC0415 - the config users pass

    config = SecAggConfig(client_ids=(1, 2, 3, 4, 5), vector_length=3, modulus_bits=24)
    enc = FixedPointEncoder.for_round(config, clip=2.0, noise_bound=3.0)
    assert enc == FixedPointEncoder.fit(24, 2.0, 5, 3.0)
    enc.check(config)
    with pytest.raises(EncodingError, match="bits=32 but the round's config has modulus_bits=24"):
        FixedPointEncoder.fit(32, 2.0, 5).check(config)


def test_a_config_without_modulus_bits_is_refused() -> None:
    enc = FixedPointEncoder.fit(32, 1.0, 4)
    with pytest.raises(EncodingError, match="modulus_bits and client_ids"):
        enc.check(SimpleNamespace(value_bits=32))
