"""fl_integration.privacy.PrivacyTracker over dp's events: the subsampled curve it records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dp.accounting import PrivacyLedger
from fl_integration.privacy import DistributedDP, PrivacyTracker


@pytest.mark.parametrize("mechanism", ["gaussian", "skellam"])
@pytest.mark.parametrize("q", [0.5, 0.8, 0.99])
def test_tracker_records_the_subsampled_curve_at_large_sampling_rates(mechanism, q):
    """The old tracker caught the subsampled bound's 'math domain error' at q = 0.8 and silently
    recorded the q = 1 curve; now it records the event's own subsampled curve."""
    config = DistributedDP(noise_multiplier=1.0, mechanism=mechanism)
    plan = config.codec(dimension=1000, n_clients=20, n_min=15).plan
    # the planner claims no amplification any more; the tracker must still record what it is given
    event = dataclasses.replace(plan.event(), sampling_probability=q)
    sampled, full = PrivacyTracker(config), PrivacyTracker(config)
    for _ in range(5):
        eps_sampled = sampled.record(event)
        eps_full = full.record(plan.event())
    curve = event.rdp(sampled.ledger.orders)
    assert np.array_equal(sampled.ledger.rdp, 5 * curve)
    assert np.all(curve <= plan.event().rdp(sampled.ledger.orders))
    assert np.any(sampled.ledger.rdp < full.ledger.rdp)
    assert 0 < eps_sampled <= eps_full
    if q == 0.5:
        assert eps_sampled < eps_full


def test_tracker_does_not_swallow_invalid_events():
    config = DistributedDP()
    tracker = PrivacyTracker(config, ledger=PrivacyLedger())

    class Broken:
        sampling_probability = 0.5

        def rdp(self, orders):
            raise ValueError("broken event")

    with pytest.raises(ValueError, match="broken event"):
        tracker.record(Broken())
    assert tracker.epsilon() == 0.0


def test_local_dp_refuses_delta_of_one_or_more():
    from fl_integration.privacy import LocalDP

    with pytest.raises(ValueError, match="delta"):
        LocalDP(delta=1.0)


def test_tracker_keeps_the_weakest_collusion_assumption():
    """ε composes over rounds, so what it assumes is the fewest honest shares and the most
    stated colluders of any round recorded."""
    config = DistributedDP(noise_multiplier=2.0)
    tracker = PrivacyTracker(config)
    assert (tracker.honest_shares, tracker.colluders) == (None, None)
    for n_min, colluders in ((5, 2), (3, None), (4, 4)):
        plan = config.codec(dimension=64, n_clients=10, n_min=n_min).plan
        tracker.record(plan.event(), honest_shares=n_min, colluders=colluders)
    assert (tracker.honest_shares, tracker.colluders) == (3, 4)


def test_codec_records_the_stated_colluders():
    config = DistributedDP()
    codec = config.codec(dimension=16, n_clients=10, n_min=1, colluders=6)
    assert (codec.plan.n_min, codec.colluders) == (1, 6)
    assert config.codec(dimension=16, n_clients=10, n_min=7).colluders is None
    assert config.codec(dimension=16, n_clients=10, n_min=1, colluders=9).colluders == 9
    for bad in (-1, 10, 2.0, True):
        with pytest.raises(ValueError, match="colluders"):
            config.codec(dimension=16, n_clients=10, n_min=1, colluders=bad)
    with pytest.raises(ValueError, match="colluders"):  # 7 honest + 4 colluders > 10 sampled
        config.codec(dimension=16, n_clients=10, n_min=7, colluders=4)


def test_calibration_for_one_honest_share_is_seven_times_the_variance():
    """Review finding 11 (n = 10, t = 7, 6 colluders): the codec for one honest share carries
    seven times the per-client noise variance of the one that counted seven survivors."""
    config = DistributedDP(noise_multiplier=4.0)
    survivors = config.codec(dimension=1000, n_clients=10, n_min=7).plan
    honest = config.codec(dimension=1000, n_clients=10, n_min=1, colluders=6).plan
    assert honest.client_variance == pytest.approx(7 * survivors.client_variance)
    assert honest.event().num_clients == 1
