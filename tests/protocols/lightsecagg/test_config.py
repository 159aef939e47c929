"""Config validation, the budgets, the input-width rule and the parameter helper."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.lightsecagg import LightSecAggConfig, find_parameters, max_input_bits
from secagg.errors import ConfigError
from secagg.field import PRIME

IDS = tuple(range(1, 21))


def _cfg(**kw: object) -> LightSecAggConfig:
    base: dict[str, object] = {"client_ids": IDS, "vector_length": 10, "recovery_threshold": 12,
                               "privacy_threshold": 5, "session_id": b"s" * 16}
    base.update(kw)
    return LightSecAggConfig(**base)  # type: ignore[arg-type]


def test_defaults_are_everything_the_thresholds_tolerate() -> None:
    cfg = _cfg()
    assert (cfg.max_dropouts, cfg.max_corrupt, cfg.spare_replies) == (7, 5, 1)
    assert cfg.min_survivors == 13 and cfg.min_replies == 13 and cfg.min_honest_inputs == 8
    assert cfg.input_bits == max_input_bits(20) and cfg.pieces == 7 and cfg.piece_length == 2


@pytest.mark.parametrize(("kw", "name"), [
    ({"privacy_threshold": 12}, "privacy_threshold"),  # T = U: no data piece
    ({"privacy_threshold": 0}, "privacy_threshold"),
    ({"recovery_threshold": 20}, "recovery_threshold"),  # U + s > N
    ({"recovery_threshold": 1, "privacy_threshold": 1}, "recovery_threshold"),
    ({"max_dropouts": 8}, "max_dropouts"),  # U + s > N - D
    ({"max_corrupt": 6}, "max_corrupt"),  # C > T
    ({"spare_replies": 0}, "spare_replies"),  # exactly U replies cannot be checked
    ({"input_bits": max_input_bits(20) + 1}, "input_bits"),  # the sum could wrap mod p
    ({"vector_length": 0}, "vector_length"),
    ({"session_id": b"short"}, "session_id"),
    ({"client_ids": (1, 1, 2)}, "distinct"),
    ({"client_ids": (0, 1, 2)}, "client_ids"),
])
def test_refusals_name_the_parameter(kw: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        _cfg(**kw)


def test_two_honest_inputs_in_every_sum() -> None:
    cfg = LightSecAggConfig(client_ids=range(1, 6), vector_length=3, recovery_threshold=2,
                            privacy_threshold=1, session_id=b"s" * 16)
    assert cfg.max_dropouts == 2 and cfg.max_corrupt == 1  # 5 - 2 - 1 = 2 honest
    with pytest.raises(ConfigError, match="max_corrupt"):
        LightSecAggConfig(client_ids=range(1, 6), vector_length=3, recovery_threshold=3,
                          privacy_threshold=2, max_dropouts=1, max_corrupt=3, session_id=b"s" * 16)


@given(st.integers(2, 5000))
def test_input_bits_never_let_the_sum_wrap(n: int) -> None:
    b = max_input_bits(n)
    assert n * ((1 << b) - 1) < PRIME
    assert b == 30 or n * ((1 << (b + 1)) - 1) >= PRIME


def test_input_bits_at_the_benchmark_size() -> None:
    assert max_input_bits(200) == 23 and max_input_bits(2) == 30


@given(st.integers(3, 2000), st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5]),
       st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.2]), st.integers(1, 3))
@settings(max_examples=200, deadline=None)
def test_helper_meets_the_budgets_or_refuses(n: int, dropout: float, corrupt: float,
                                             spare: int) -> None:
    try:
        p = find_parameters(n, dropout=dropout, corrupt=corrupt, spare_replies=spare)
    except ConfigError:
        return
    assert p.max_dropouts >= dropout * n - 1e-9 and p.max_corrupt >= corrupt * n - 1e-9
    assert p.privacy_threshold >= max(p.max_corrupt, 1)  # T covers every colluder
    assert p.recovery_threshold + spare <= n - p.max_dropouts  # survivors can reply
    assert p.recovery_threshold > p.privacy_threshold
    assert n - p.max_dropouts - p.max_corrupt >= 2
    cfg = LightSecAggConfig.for_rates(range(1, n + 1), 10, dropout=dropout, corrupt=corrupt,
                                      spare_replies=spare)
    assert (cfg.U, cfg.T, cfg.max_dropouts, cfg.max_corrupt) == (
        p.recovery_threshold, p.privacy_threshold, p.max_dropouts, p.max_corrupt)


def test_helper_at_the_benchmark_points() -> None:
    got = {d: find_parameters(200, dropout=d, corrupt=0.05) for d in (0.1, 0.3, 0.5)}
    assert [(p.recovery_threshold, p.privacy_threshold) for p in got.values()] == [
        (179, 10), (139, 10), (99, 10)]
    with pytest.raises(ConfigError, match="lower the rates"):
        find_parameters(200, dropout=0.5, corrupt=0.5)
    with pytest.raises(ConfigError, match="chosen by the parameter helper"):
        LightSecAggConfig.for_rates(IDS, 10, recovery_threshold=3)
