"""No configuration can wrap silently: either it is refused, or the sum of n clients' most
extreme encodings decodes to exactly the sum of what each sent (property tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_integration.compression import (
    CountSketch,
    Quantize,
    SignVote,
    Subsample,
    check_compression,
    for_round,
)
from fl_integration.compression.packing import SlotPacking, digit_bits, level_width, vote_width
from secagg.errors import ConfigError

DIM = 24

methods = st.one_of(
    st.builds(Quantize, bits=st.integers(2, 16), fraction=st.sampled_from([1.0, 0.5]),
              bound=st.sampled_from([None, 0.05])),
    st.builds(Subsample, fraction=st.sampled_from([1.0, 0.4]),
              bits=st.one_of(st.none(), st.integers(2, 16)), error_feedback=st.booleans()),
    st.builds(CountSketch, width=st.integers(1, 12), depth=st.integers(1, 3),
              bits=st.one_of(st.none(), st.integers(2, 16))),
    st.builds(SignVote, fraction=st.sampled_from([1.0, 0.3])),
)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), levels_bits=st.integers(1, 16), max_word=st.integers(2, 62),
       data=st.data())
def test_packed_slot_sums_are_exact_at_the_no_wrap_width(n, levels_bits, max_word, data):
    levels = (1 << (levels_bits - 1)) - 1 or 1  # levels_bits = 1 stands for votes
    width = vote_width(n) if levels_bits == 1 else level_width(n, levels)
    assert n * levels <= (1 << (width - 1)) - 1  # the law itself
    slots = data.draw(st.integers(1, 9))
    try:
        packing = SlotPacking.fit(width, slots, max_word)
    except ConfigError:
        assert width > max_word
        return
    assert packing.bits <= max_word
    side = data.draw(st.sampled_from([-1, 1, 0]))
    rows = np.full((n, slots), side * levels, dtype=np.int64)
    if side == 0:
        rows = np.array(data.draw(st.lists(st.lists(st.integers(-levels, levels),
                                                    min_size=slots, max_size=slots),
                                           min_size=n, max_size=n)), dtype=np.int64)
    total = np.zeros(packing.length, dtype=object)
    for row in rows:
        total = total + packing.pack(row).astype(object)
    words = np.array([int(t) % (1 << packing.bits) for t in total], dtype=np.uint64)
    assert np.array_equal(packing.unpack(words), rows.sum(axis=0))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), width=st.integers(2, 62))
def test_weight_digits_never_overflow_their_slot(n, width):
    h = digit_bits(n, width)
    if n > (1 << (width - 1)) - 1:
        assert h == 0  # no digit fits: the level law already refused such a width
        return
    assert h >= 1 and n * ((1 << h) - 1) <= (1 << (width - 1)) - 1


@settings(max_examples=120, deadline=None)
@given(method=methods, n=st.integers(2, 400), bits=st.integers(8, 64), sign=st.sampled_from([-1, 1]))
def test_no_configuration_wraps_silently(method, n, bits, sign):
    """Any (method, n clients, bits) is refused with a ConfigError, or n clients all sending
    the most extreme update and the largest weight decode to n times one client's message."""
    try:
        check_compression(method, None, bits, n)
        round_ = for_round(method, seed=bytes(32), dimension=DIM, clip=0.5)
        codec = round_.codec(n_clients=n, max_weight=40.0, bits=bits)
    except ConfigError as exc:
        need = method.sum_bits(n)
        if need is None:  # full fixed-point precision: the weights alone overflow the width
            assert f"bits={bits} cannot hold the sum of {n} clients" in str(exc)
        else:
            assert need > min(bits, 62)
        return
    assert codec.bits <= bits
    update = np.full(DIM, sign * 0.5)
    words = codec.encode(update, 40.0)
    one = codec.decode(words, 1)
    total = np.array([(int(w) * n) % (1 << codec.bits) for w in words], dtype=np.uint64)
    many = codec.decode(total, n)
    assert many[1] == n * one[1]
    np.testing.assert_allclose(many[0], n * one[0], rtol=1e-9, atol=1e-9 * n * abs(one[0]).max())
