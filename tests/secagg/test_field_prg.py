"""Uniform field elements from AES-CTR: kernel against reference, rejection, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from secagg import field_prg, labels
from secagg.field import PRIME

SESSION = b"field-prg-session"


@given(st.binary(min_size=16, max_size=16), st.integers(0, 3000))
@settings(max_examples=50, deadline=None)
def test_matches_reference(key: bytes, length: int) -> None:
    got = field_prg.expand_field(key, length)
    np.testing.assert_array_equal(got, field_prg._reference_expand_field(key, length))
    assert got.dtype == np.uint64 and (got < PRIME).all()


def test_the_value_p_is_rejected_not_reduced() -> None:
    words = np.array([PRIME, 0xFFFFFFFF, 5, PRIME | (1 << 31), 7], dtype=np.uint32)
    out = np.zeros(5, dtype=np.uint64)
    assert field_prg._accept(words, out, 0) == 2  # p and its high-bit twins are skipped
    assert list(out[:2]) == [5, 7]


def test_keys_bind_label_session_and_context() -> None:
    seed = b"s" * 32
    key = field_prg.field_key(seed, labels.LIGHTSECAGG_MASK, SESSION, b"\x00\x00\x00\x01")
    others = {
        field_prg.field_key(seed, labels.LIGHTSECAGG_MASK, SESSION, b"\x00\x00\x00\x02"),
        field_prg.field_key(seed, labels.LIGHTSECAGG_MASK, SESSION + b"x", b"\x00\x00\x00\x01"),
        field_prg.field_key(seed, labels.PRG_KEY, SESSION, b"\x00\x00\x00\x01"),
    }
    assert key not in others and len(others) == 3 and len(key) == 16
    with pytest.raises(ValueError):
        field_prg.field_key(b"short", labels.LIGHTSECAGG_MASK, SESSION)


def test_elements_look_uniform() -> None:
    """Chi-square on the top 8 bits of 2^18 elements (false-alarm rate 1e-4, fixed key)."""
    values = field_prg.expand_field(b"u" * 16, 1 << 18)
    counts = np.bincount((values >> np.uint64(23)).astype(np.int64), minlength=256)
    assert chisquare(counts).pvalue > 1e-4
