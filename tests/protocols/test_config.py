"""SecAggConfig: keyword-only, frozen, and every bad parameter refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from protocols import MalformedMessage
from protocols.secagg.config import SecAggConfig

S = b"s" * 16


def make(**kw: object) -> SecAggConfig:
    base: dict[str, object] = {"client_ids": range(1, 11), "vector_length": 4, "session_id": S}
    base.update(kw)
    return SecAggConfig(**base)  # type: ignore[arg-type]


def test_defaults() -> None:
    c = make()
    assert c.client_ids == tuple(range(1, 11)) and c.threshold == 2 * 10 // 3 + 1
    assert c.complete and c.degree == 9 and c.modulus == 2**32
    # what t allows: 3 dropouts, and 5 colluders so that every sum holds two honest inputs
    assert (c.max_dropouts, c.max_corrupt, c.min_survivors, c.min_honest_inputs) == (3, 5, 7, 2)
    sparse = make(neighbors=4, max_dropouts=1, max_corrupt=1)
    assert sparse.threshold == 2 and not sparse.complete  # the finder's smallest safe t
    assert sparse.corrupt_neighbors == 1


def test_a_sparse_graph_states_its_budgets() -> None:
    with pytest.raises(ValueError, match="max_dropouts and max_corrupt"):
        make(neighbors=4)
    with pytest.raises(ValueError, match="max_corrupt"):
        make(neighbors=4, max_dropouts=1, max_corrupt=10)


def test_malicious_rule_counts_the_whole_neighbourhood_and_the_corrupt() -> None:
    """Break 1 of the review: k=4, t=3 with one corrupt client passed the old 2t > k rule; a
    server showing v alive to two honest holders and dead to the other two then got t shares
    of both kinds with the corrupt client's help. 2t > |N[u]| + a = 4 + 1 + 1 refuses it."""
    with pytest.raises(ValueError, match=r"2t > k \+ 1 \+ a = 6"):
        make(malicious=True, neighbors=4, threshold=3, max_dropouts=1, max_corrupt=1)
    ok = make(malicious=True, neighbors=4, threshold=4, max_dropouts=0, max_corrupt=1)
    assert 2 * ok.t > ok.degree + 1 + ok.corrupt_neighbors
    with pytest.raises(ValueError, match="max_corrupt"):  # complete graph: 2t > n + C
        make(malicious=True, threshold=7, max_corrupt=4)
    assert make(malicious=True, threshold=7).max_corrupt == 3


def test_budgets_the_threshold_cannot_carry_are_refused() -> None:
    with pytest.raises(ValueError, match="max_dropouts"):
        make(threshold=7, max_dropouts=4)  # 10 - 4 < t: the round could never finish
    with pytest.raises(ValueError, match="max_corrupt"):
        make(threshold=7, max_corrupt=7)  # 7 colluders hold t shares
    with pytest.raises(ValueError, match="max_corrupt"):
        make(threshold=7, max_corrupt=6)  # 7 survivors, 6 colluding: a sum of one honest input
    assert make(threshold=7, max_dropouts=0, max_corrupt=6).min_honest_inputs == 4


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
        ({"neighbors": 10}, "neighbors"),
        ({"neighbors": 0}, "neighbors"),
        ({"modulus_bits": 7}, "modulus_bits"),
        ({"modulus_bits": 65}, "modulus_bits"),
        ({"vector_length": 0}, "vector_length"),
        ({"session_id": b"short"}, "session_id"),
        ({"session_id": "x" * 32}, "session_id"),
        ({"malicious": 1}, "malicious"),
        ({"malicious": True, "threshold": 5}, "malicious"),
        ({"malicious": True, "neighbors": 5, "threshold": 3, "max_dropouts": 1,
          "max_corrupt": 1}, r"2t > k \+ 1 \+ a"),
        ({"neighbors": 4, "threshold": 5, "max_dropouts": 1, "max_corrupt": 1}, "threshold"),
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
    assert (c.max_dropouts, c.max_corrupt) == (50, 50)
    m = SecAggConfig.for_secagg_plus(range(1, 1001), 10, malicious=True, session_id=S)
    assert m.malicious and 2 * m.t > m.degree + 1 + m.corrupt_neighbors
    small = SecAggConfig.for_secagg_plus(range(1, 6), 10, session_id=S)
    assert small.complete
    for name in ("threshold", "neighbors", "max_dropouts", "max_corrupt"):
        with pytest.raises(ValueError, match=name):
            SecAggConfig.for_secagg_plus(range(1, 100), 10, **{name: 5})


def test_small_cohorts_get_the_complete_graph() -> None:
    """Break 2's setting: at n = 20 the sparse choice was k = 4, t = 2 (two colluding
    neighbours reveal a client). Below 100 clients the finder returns the complete graph with
    SecAgg's threshold, which tolerates 12 colluders with 6 dropouts (two honest inputs stay in
    every sum); the sparse graph stays available."""
    c = SecAggConfig.for_secagg_plus(range(1, 21), 10, session_id=S)
    assert c.complete and c.t == 14 and c.max_corrupt == 12 and c.max_dropouts == 6
    sparse = SecAggConfig.for_secagg_plus(range(1, 21), 10, session_id=S, min_sparse_clients=0)
    assert (sparse.degree, sparse.t, sparse.max_corrupt) == (4, 2, 1)


def test_config_bytes_round_trip_and_refuse_what_does_not_validate() -> None:
    for cfg in (make(), make(malicious=True),
                SecAggConfig.for_secagg_plus(range(1, 301), 7, malicious=True, session_id=S)):
        wire = cfg.to_bytes()
        assert SecAggConfig.from_bytes(wire) == cfg
        for cut in range(len(wire)):
            with pytest.raises(MalformedMessage):
                SecAggConfig.from_bytes(wire[:cut])
        with pytest.raises(MalformedMessage):
            SecAggConfig.from_bytes(wire + b"\x00")
    wire = bytearray(make(malicious=True, threshold=7).to_bytes())
    t_at = len(wire) - 4 * 10 - 4 - 16  # ... ‖ t ‖ k ‖ D ‖ C ‖ count ‖ ids
    wire[t_at : t_at + 4] = (5).to_bytes(4, "big")  # 2t = n: unsafe in malicious mode
    with pytest.raises(MalformedMessage, match="does not validate"):
        SecAggConfig.from_bytes(bytes(wire))


def test_configuration_errors_are_ours_and_still_value_errors() -> None:
    """One hierarchy: a bad config is a ConfigError, which is both a SecAggError (a caller can
    catch all of ours with one except) and a ValueError (as before)."""
    from protocols import ConfigError, SecAggError

    with pytest.raises(ConfigError, match="threshold") as err:
        make(threshold=11)
    assert isinstance(err.value, SecAggError) and isinstance(err.value, ValueError)
    with pytest.raises(ConfigError, match="rates"):
        SecAggConfig.for_secagg_plus(range(1, 5), 3, dropout=0.5, corrupt=0.3)
