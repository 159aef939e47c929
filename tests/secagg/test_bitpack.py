"""Bit packing: exact sizes, little-endian layout, round trips and rejection of malformed input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from secagg import bitpack, prg
from secagg.errors import MalformedMessage

BITS = st.integers(8, 64)


@st.composite
def packed_cases(draw) -> tuple[int, np.ndarray]:
    bits = draw(BITS)
    n = draw(st.integers(0, 300))
    values = draw(arrays(prg.dtype_for_bits(bits), n, elements=st.integers(0, 2**bits - 1)))
    return bits, values


def test_layout_is_little_endian_bit_stream() -> None:
    # sum(v_i << (i*b)) read little-endian: 1 | 2 << 12 = 0x002001.
    assert bitpack.pack_bits(np.array([1, 2], dtype=np.uint32), 12) == bytes([0x01, 0x20, 0x00])
    assert bitpack.pack_bits(np.array([0x1FF], dtype=np.uint32), 9) == bytes([0xFF, 0x01])
    assert bitpack.pack_bits(np.array([0x0102], dtype=np.uint32), 16) == bytes([0x02, 0x01])


@given(packed_cases())
@settings(deadline=None)  # the first call may load or compile the numba kernels
def test_round_trip_exact_size_and_equal_reference(case) -> None:
    bits, values = case
    data = bitpack.pack_bits(values, bits)
    assert len(data) == (len(values) * bits + 7) // 8
    assert data == bitpack._reference_pack(values, bits)
    out = bitpack.unpack_bits(data, bits, len(values))
    assert out.dtype == prg.dtype_for_bits(bits) and np.array_equal(out, values)
    assert np.array_equal(bitpack._reference_unpack(data, bits, len(values)), values)


@pytest.mark.parametrize("bits", range(8, 65))
def test_every_width_round_trips_full_range(bits: int) -> None:
    dtype = prg.dtype_for_bits(bits)
    top = 2**bits - 1
    values = np.array([0, top, 1, top - 1, top >> 1, 5 % (top + 1)] * 3, dtype=dtype)
    for n in range(len(values) + 1):
        data = bitpack.pack_bits(values[:n], bits)
        assert np.array_equal(bitpack.unpack_bits(data, bits, n), values[:n])


@given(BITS, st.integers(0, 200), st.data())
@settings(deadline=None)
def test_unpack_of_any_wellformed_bytes_stays_below_2_to_b(bits: int, n: int, data) -> None:
    size = (n * bits + 7) // 8
    raw = bytearray(data.draw(st.binary(min_size=size, max_size=size)))
    used = (n * bits) % 8
    if used:
        raw[-1] &= (1 << used) - 1  # padding must be zero
    out = bitpack.unpack_bits(bytes(raw), bits, n)
    if n and bits < 64:
        assert int(out.max()) < 2**bits
    assert bitpack.pack_bits(out, bits) == bytes(raw)  # one canonical encoding


@given(packed_cases(), st.integers(-3, 3).filter(lambda d: d != 0))
@settings(deadline=None)
def test_wrong_size_raises_malformed(case, delta: int) -> None:
    bits, values = case
    data = bitpack.pack_bits(values, bits)
    assume(len(data) + delta >= 0)
    bad = data + b"\x00" * delta if delta > 0 else data[: len(data) + delta]
    with pytest.raises(MalformedMessage):
        bitpack.unpack_bits(bad, bits, len(values))


@given(st.integers(8, 63).filter(lambda b: b % 8), st.integers(1, 50))
@settings(deadline=None)
def test_nonzero_padding_raises_malformed(bits: int, n: int) -> None:
    if (n * bits) % 8 == 0:
        n += 1
    data = bytearray(bitpack.pack_bits(np.zeros(n, dtype=prg.dtype_for_bits(bits)), bits))
    data[-1] |= 0x80
    with pytest.raises(MalformedMessage):
        bitpack.unpack_bits(bytes(data), bits, n)


def test_pack_rejects_out_of_range_and_wrong_types() -> None:
    with pytest.raises(ValueError):
        bitpack.pack_bits(np.array([256], dtype=np.uint32), 8)
    with pytest.raises(ValueError):
        bitpack.pack_bits(np.array([1 << 20], dtype=np.uint32), 20)
    with pytest.raises(TypeError):
        bitpack.pack_bits(np.array([-1], dtype=np.int64), 20)
    with pytest.raises(ValueError):
        bitpack.pack_bits(np.array([1], dtype=np.uint32), 7)
    with pytest.raises(ValueError):
        bitpack.unpack_bits(b"", 65, 0)
