"""Compression settings validate when they are made: a ConfigError names the parameter and the
allowed range; combinations that cannot be accounted or carried are refused with the reason."""

from __future__ import annotations

import math

import pytest

from fl_integration import DistributedDP, FedAvgConfig, LocalDP, Simulation
from fl_integration.compression import CountSketch, Quantize, SignVote, Subsample, parse
from secagg.errors import ConfigError


@pytest.mark.parametrize("make, message", [
    (lambda: Quantize(bits=1), "Quantize.bits must be an int in [2, 16], got 1"),
    (lambda: Quantize(bits=17), "Quantize.bits must be an int in [2, 16], got 17"),
    (lambda: Quantize(bits=True), "Quantize.bits must be an int in [2, 16]"),
    (lambda: Quantize(bound=0.0), "Quantize.bound must be None or a positive finite number"),
    (lambda: Quantize(bound=math.inf), "Quantize.bound must be None or a positive finite"),
    (lambda: Quantize(fraction=0), "Quantize.fraction must be a number in (0, 1], got 0"),
    (lambda: Subsample(fraction=1.5), "Subsample.fraction must be a number in (0, 1], got 1.5"),
    (lambda: Subsample(fraction=0.1, bits=40), "Subsample.bits must be an int in [2, 16]"),
    (lambda: Subsample(fraction=0.1, error_feedback="yes"),
     "Subsample.error_feedback must be True or False"),
    (lambda: CountSketch(width=0), "CountSketch.width must be an int in [1, 1073741824], got 0"),
    (lambda: CountSketch(width=8, depth=0), "CountSketch.depth must be an int in [1, 32], got 0"),
    (lambda: CountSketch(width=8, bits=1), "CountSketch.bits must be an int in [2, 16], got 1"),
    (lambda: SignVote(step=-1.0), "SignVote.step must be None or a positive finite number"),
    (lambda: SignVote(fraction=0.0), "SignVote.fraction must be a number in (0, 1], got 0.0"),
])
def test_bad_parameters_are_refused_naming_the_parameter_and_range(make, message):
    with pytest.raises(ConfigError) as exc:
        make()
    assert message in str(exc.value)


def test_compression_must_be_one_of_the_four():
    with pytest.raises(ConfigError, match=r"compression must be None, Quantize\(...\), "
                                          r"Subsample\(...\), CountSketch\(...\) or SignVote"):
        FedAvgConfig(clip=1.0, compression="quantize")


def test_every_method_is_accepted_with_every_aggregator():
    for aggregator in ("plain", "secagg", "secagg+", "lightsecagg", "paillier"):
        for method in (Quantize(), Subsample(fraction=0.1), CountSketch(width=64), SignVote()):
            FedAvgConfig(aggregator=aggregator, clip=1.0, compression=method)


def test_sign_voting_with_distributed_dp_is_refused_saying_why():
    with pytest.raises(ConfigError) as exc:
        FedAvgConfig(dp=DistributedDP(), compression=SignVote())
    assert "SignVote cannot be combined with distributed DP" in str(exc.value)
    assert "sensitivity" in str(exc.value)
    FedAvgConfig(dp=LocalDP(), compression=SignVote())  # post-processing of local noise: fine


@pytest.mark.parametrize("method", [Quantize(bits=8), Subsample(fraction=0.5),
                                    CountSketch(width=64, bits=10)])
def test_distributed_dp_composes_with_the_linear_methods(method):
    FedAvgConfig(dp=DistributedDP(), compression=method)


def test_a_dp_width_beside_a_compression_width_is_refused():
    with pytest.raises(ConfigError, match="DistributedDP.bits must be left out with compression"):
        FedAvgConfig(dp=DistributedDP(bits=16), compression=Quantize(bits=8))


def test_a_width_the_modulus_cannot_hold_for_the_round_is_refused():
    sim = Simulation(clients_per_round=25)
    with pytest.raises(ConfigError) as exc:
        FedAvgConfig(clip=1.0, bits=16, simulation=sim, compression=Quantize(bits=16))
    assert ("Quantize(bits=16) needs 21-bit sums for 25 clients per round, more than bits=16"
            in str(exc.value))
    FedAvgConfig(clip=1.0, bits=21, simulation=sim, compression=Quantize(bits=16))


@pytest.mark.parametrize("text, expected", [
    ("none", None),
    ("quantize:bits=4", Quantize(bits=4)),
    ("quantize:bits=2,bound=0.1,fraction=0.4", Quantize(bits=2, bound=0.1, fraction=0.4)),
    ("subsample:fraction=0.25,bits=8,error_feedback=true",
     Subsample(fraction=0.25, bits=8, error_feedback=True)),
    ("sketch:width=128,depth=2", CountSketch(width=128, depth=2)),
    ("signvote", SignVote()),
    ("signvote:step=0.2,fraction=0.15", SignVote(step=0.2, fraction=0.15)),
])
def test_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, message", [
    ("zip", "unknown compression 'zip'"),
    ("quantize:bits", "is not key=value"),
    ("quantize:levels=3", "quantize: "),
    ("quantize:bits=four", "is not a number"),
    ("quantize:bits=40", "Quantize.bits must be an int in [2, 16], got 40"),
])
def test_parse_refuses_with_the_syntax(text, message):
    with pytest.raises(ConfigError) as exc:
        parse(text)
    assert message in str(exc.value)
