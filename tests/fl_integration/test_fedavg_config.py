"""FedAvgConfig validates when it is made: bad values name the field and what is allowed; the
aggregator factory and the weighted codec raise the library's typed errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fl_integration import (
    AGGREGATORS,
    DistributedDP,
    FedAvgConfig,
    LocalDP,
    PlainAggregator,
    make_aggregator,
)
from fl_integration.quantization import WeightedEncoding
from secagg.errors import ConfigError, EncodingError


def test_an_unknown_aggregator_is_refused_listing_the_choices():
    with pytest.raises(ConfigError) as exc:
        FedAvgConfig(aggregator="nonsense", clip=1.0)
    message = str(exc.value)
    assert "'nonsense'" in message
    assert all(repr(name) in message for name in AGGREGATORS)


@pytest.mark.parametrize("field, value, message", [
    ("aggregator", object(), "aggregate() and stages"),
    ("dp", "local", "dp must be None, LocalDP(...) or DistributedDP(...), got 'local'"),
    ("rounds", -1, "rounds must be an int >= 0, got -1"),
    ("rounds", 2.5, "rounds must be an int >= 0"),
    ("bits", 7, "bits must be an int in [8, 64], got 7"),
    ("bits", 65, "bits must be an int in [8, 64], got 65"),
    ("bits", True, "bits must be an int in [8, 64]"),
    ("clip", 0.0, "clip must be a positive finite number, got 0.0"),
    ("clip", math.nan, "clip must be a positive finite number"),
    ("clip", math.inf, "clip must be a positive finite number"),
    ("max_weight", -5, "max_weight must be a positive finite number, got -5"),
    ("server_lr", math.inf, "server_lr must be a positive finite number"),
    ("simulation", {"clients_per_round": 5}, "simulation must be a Simulation(...)"),
    ("fit_config", [("epochs", 1)], "fit_config must be a mapping"),
])
def test_bad_fields_are_refused_when_the_config_is_made(field, value, message):
    kwargs = {"clip": 1.0, field: value}
    with pytest.raises(ConfigError) as exc:
        FedAvgConfig(**kwargs)
    assert message in str(exc.value)
    assert isinstance(exc.value, ValueError)  # code that caught ValueError keeps working


def test_clip_is_required_without_dp():
    with pytest.raises(ConfigError, match="clip is required"):
        FedAvgConfig(aggregator="plain")


@pytest.mark.parametrize("dp", [LocalDP(), DistributedDP()], ids=["local", "distributed"])
def test_clip_comes_from_dp_and_is_refused_beside_it(dp):
    FedAvgConfig(dp=dp)  # the DP config's l2_clip bounds the updates
    with pytest.raises(ConfigError, match=f"clip must be left out with dp: {type(dp).__name__}"):
        FedAvgConfig(dp=dp, clip=1.0)


def test_valid_configs_are_accepted():
    for name in AGGREGATORS:
        FedAvgConfig(aggregator=name, clip=0.5, rounds=0, bits=64)
    FedAvgConfig(aggregator=PlainAggregator(), clip=2)


def test_make_aggregator_refuses_an_unknown_name_with_the_choices():
    with pytest.raises(ConfigError, match="'plain', 'secagg', 'secagg\\+', 'lightsecagg', 'paillier', got 'rot13'"):
        make_aggregator("rot13")


def test_a_weight_beyond_the_public_bound_is_an_encoding_error():
    codec = WeightedEncoding.fit(dimension=3, bits=32, clip=1.0, max_summands=4, max_weight=10)
    with pytest.raises(EncodingError, match="weight must be in"):
        codec.encode(np.zeros(3), weight=11)
