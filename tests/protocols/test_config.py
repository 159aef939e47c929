"""SecAggConfig: keyword-only, frozen, and every bad parameter refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from protocols.config import SecAggConfig

S = b"s" * 16


def make(**kw: object) -> SecAggConfig:
    base: dict[str, object] = {"client_ids": range(1, 11), "vector_length": 4, "session_id": S}
    base.update(kw)
    return SecAggConfig(**base)  # type: ignore[arg-type]


def test_defaults() -> None:
    c = make()
    assert c.client_ids == tuple(range(1, 11)) and c.threshold == 2 * 10 // 3 + 1
    assert c.complete and c.degree == 9 and c.modulus == 2**32
    sparse = make(neighbors=4)
    assert sparse.threshold == (2 * 5) // 3 + 1 and not sparse.complete


def test_fresh_session_per_config() -> None:
    a = SecAggConfig(client_ids=[1, 2, 3], vector_length=1)
    b = SecAggConfig(client_ids=[1, 2, 3], vector_length=1)
    assert len(a.session_id) == 32 and a.session_id != b.session_id


def test_frozen_and_keyword_only() -> None:
    c = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.threshold = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        SecAggConfig((1, 2, 3), 4)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"client_ids": [1, 1, 2]}, "distinct"),
        ({"client_ids": [0, 1, 2]}, "client_ids"),
        ({"client_ids": [1, 2, 2**31 - 1]}, "client_ids"),
        ({"client_ids": [1, True, 3]}, "client_ids"),
        ({"client_ids": [1]}, "client_ids"),
        ({"threshold": 1}, "threshold"),
        ({"threshold": 11}, "threshold"),
        ({"neighbors": 4, "threshold": 6}, "threshold"),
        ({"neighbors": 10}, "neighbors"),
        ({"neighbors": 0}, "neighbors"),
        ({"modulus_bits": 7}, "modulus_bits"),
        ({"modulus_bits": 65}, "modulus_bits"),
        ({"vector_length": 0}, "vector_length"),
        ({"session_id": b"short"}, "session_id"),
        ({"session_id": "x" * 32}, "session_id"),
        ({"malicious": 1}, "malicious"),
        ({"malicious": True, "threshold": 5}, "malicious"),
        ({"malicious": True, "neighbors": 5, "threshold": 3}, "half"),
    ],
)
def test_bad_parameters_name_themselves(kw: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make(**kw)


def test_malicious_threshold_just_above_half() -> None:
    assert make(malicious=True, threshold=6).threshold == 6  # 2*6 > 10
    assert make(malicious=True).threshold == 7


def test_for_secagg_plus_uses_the_finder() -> None:
    c = SecAggConfig.for_secagg_plus(range(1, 1001), 10, session_id=S)
    assert (c.neighbors, c.threshold) == (30, 17)
    m = SecAggConfig.for_secagg_plus(range(1, 1001), 10, malicious=True, session_id=S)
    assert m.malicious and 2 * m.threshold > m.degree + 1
    small = SecAggConfig.for_secagg_plus(range(1, 6), 10, session_id=S)
    assert small.complete
    with pytest.raises(ValueError, match="threshold"):
        SecAggConfig.for_secagg_plus(range(1, 100), 10, threshold=5)
