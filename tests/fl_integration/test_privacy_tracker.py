"""fl_integration.privacy.PrivacyTracker over dp's events: the subsampled curve it records."""

from __future__ import annotations

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
    sampled, full = PrivacyTracker(config), PrivacyTracker(config)
    for _ in range(5):
        eps_sampled = sampled.record(plan.event(q))
        eps_full = full.record(plan.event(1.0))
    curve = plan.event(q).rdp(sampled.ledger.orders)
    assert np.array_equal(sampled.ledger.rdp, 5 * curve)
    assert np.all(curve <= plan.event(1.0).rdp(sampled.ledger.orders))
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
