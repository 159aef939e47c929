"""HKDF known answers (RFC 5869) and the binding of label, version, session and ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg import kdf, labels

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "hkdf_sha256_rfc5869.json").read_text())
SESSION = bytes(range(16))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_rfc5869_vectors(case: dict) -> None:
    salt = bytes.fromhex(case["salt"]) or None
    okm = kdf.hkdf_sha256(bytes.fromhex(case["ikm"]), bytes.fromhex(case["info"]), case["length"], salt)
    assert okm.hex() == case["okm"]


def test_derive_is_hkdf_over_the_bound_info() -> None:
    ikm = b"\x11" * 32
    info = kdf.build_info(labels.PRG_KEY, SESSION, b"ctx")
    assert kdf.derive(ikm, labels.PRG_KEY, SESSION, b"ctx") == kdf.hkdf_sha256(ikm, info, 32)
    assert labels.PRG_KEY in info and SESSION in info


@given(st.sampled_from(labels.ALL), st.sampled_from(labels.ALL), st.binary(min_size=16, max_size=40),
       st.binary(min_size=16, max_size=40))
def test_any_difference_in_label_or_session_changes_the_key(l1, l2, s1, s2) -> None:
    ikm = b"\x42" * 32
    same = (l1, s1) == (l2, s2)
    assert (kdf.derive(ikm, l1, s1) == kdf.derive(ikm, l2, s2)) == same


@given(st.integers(1, 2**40), st.integers(1, 2**40))
def test_pair_context_is_symmetric_and_injective(u: int, v: int) -> None:
    assert kdf.pair_context(u, v) == kdf.pair_context(v, u)
    assert (kdf.pair_context(u, v) == kdf.pair_context(u, v + 1)) is False


def test_short_session_and_unknown_label_are_refused() -> None:
    with pytest.raises(ValueError, match="session_id"):
        kdf.derive(b"k" * 32, labels.PRG_KEY, b"short")
    with pytest.raises(ValueError, match="label"):
        kdf.derive(b"k" * 32, b"made-up", SESSION)


def test_every_label_is_versioned_and_distinct() -> None:
    assert len(set(labels.ALL)) == len(labels.ALL)
    assert all(lab.startswith(b"secagg/v%d/" % labels.VERSION) for lab in labels.ALL)
