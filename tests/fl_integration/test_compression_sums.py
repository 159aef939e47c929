"""Under the mask, every compression sums exactly what it sums in the clear.

Each real aggregator (SecAgg, SecAgg+, LightSecAgg, Paillier) and the plain one get the same
clients, the same round (one client drops before its masked input) and the same codec, whose
encodings are pinned per client (the rounding and noise keyed by the client's input), so both
sides add the very same integers: the decoded sums must be equal bit for bit, and equal to the
codec's own decode of the plain sum of the survivors' words mod 2^b.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from fl_integration.aggregators import PlainAggregator, RoundContext, make_aggregator
from fl_integration.compression import (
    CountSketch,
    Quantize,
    SignVote,
    Subsample,
    for_round,
    round_seed,
)
from fl_integration.paillier import PaillierAggregator
from fl_integration.privacy import DistributedDP
from fl_integration.simulation import RoundPlan
from secagg.csprng import AesCtrRandom

N, DIM, MAX_WEIGHT, WORD, N_MIN = 8, 40, 50.0, 24, 4
SEED = bytes(range(32))

METHODS = [
    Quantize(bits=4),
    Quantize(bits=2, bound=0.2, fraction=0.5),
    Subsample(fraction=0.3),
    Subsample(fraction=0.3, bits=5, error_feedback=True),
    CountSketch(width=16, depth=2),
    CountSketch(width=16, bits=6),
    SignVote(),
    SignVote(step=0.05, fraction=0.5),
]
DP_METHODS = [Quantize(bits=8), Subsample(fraction=0.5), CountSketch(width=16, depth=2, bits=9)]


class Pinned:
    """A codec whose encoding of a client depends only on the client's (update, weight)."""

    def __init__(self, codec):
        self.codec = codec
        self.bits, self.length = codec.bits, codec.length

    def encode(self, update, weight, rng=None):
        key = hashlib.sha256(np.asarray(update).tobytes() + struct.pack("<d", weight)).digest()
        return self.codec.encode(update, weight, AesCtrRandom(key))

    def decode(self, total, count):
        return self.codec.decode(total, count)

    def mean_bound(self, count, total_weight):
        return self.codec.mean_bound(count, total_weight)


def _aggregators():
    return {
        "secagg": make_aggregator("secagg"),
        "secagg+": make_aggregator("secagg+"),
        "lightsecagg": make_aggregator("lightsecagg"),
        "paillier": PaillierAggregator(key_bits=512, allow_insecure_key_size=True),
    }


def _inputs():
    rng = np.random.default_rng(7)
    updates = {c: rng.uniform(-0.3, 0.3, DIM) for c in range(1, N + 1)}
    weights = {c: float(rng.integers(5, 51)) for c in range(1, N + 1)}
    return updates, weights


def _plan(stages):
    ids = tuple(range(1, N + 1))
    drops = {s: frozenset() for s in stages}
    drops["masked_input"] = frozenset({3})
    return RoundPlan(round=1, sampled=ids, stages=tuple(stages), dropouts=drops,
                     latency={s: dict.fromkeys(ids, 0.0) for s in stages}, deadline=None)


def _factory(round_, made):
    def make(n_clients, n_min, *, colluders=None, max_bits=None):
        assert max_bits is None or max_bits >= WORD
        codec = Pinned(round_.codec(n_clients=n_clients, max_weight=MAX_WEIGHT, bits=WORD,
                                    n_min=N_MIN, colluders=None))
        made.append(codec)
        return codec
    return make


def _both(round_, aggregator):
    updates, weights = _inputs()
    stages = aggregator.stages
    made = []
    secure = aggregator.aggregate(updates, weights, RoundContext(
        1, _plan(stages), _factory(round_, made), integer_only=True))
    plain = PlainAggregator().aggregate(updates, weights, RoundContext(
        1, _plan(stages), _factory(round_, made), integer_only=True))
    return secure, plain, made[-1], updates, weights


def _clear_sum(codec, updates, weights, survivors):
    """The codec's decode of the survivors' words summed mod 2^b in the clear."""
    words = [codec.encode(updates[c], weights[c]).astype(object) for c in sorted(survivors)]
    total = np.array([int(v) % (1 << codec.bits) for v in sum(words)], dtype=np.uint64)
    return codec.decode(total, len(survivors))


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.label())
@pytest.mark.parametrize("name", ["secagg", "secagg+", "lightsecagg", "paillier"])
def test_the_masked_sum_is_the_plain_compressed_sum(method, name):
    round_ = for_round(method, seed=SEED, dimension=DIM, clip=0.3)
    secure, plain, codec, updates, weights = _both(round_, _aggregators()[name])
    assert secure.survivors == plain.survivors == frozenset(range(1, N + 1)) - {3}
    assert np.array_equal(secure.sum_vector, plain.sum_vector)
    assert secure.total_weight == plain.total_weight
    vec, weight = _clear_sum(codec, updates, weights, secure.survivors)
    assert np.array_equal(secure.sum_vector, vec) and secure.total_weight == weight
    if name != "paillier":  # the protocols' own stats: b is the codec's word
        assert secure.stats["bits"] >= codec.bits


@pytest.mark.parametrize("method", DP_METHODS, ids=lambda m: m.label())
@pytest.mark.parametrize("name", ["secagg+", "lightsecagg", "paillier"])
def test_under_distributed_dp_the_masked_noisy_sum_is_the_plain_one(method, name):
    dp = DistributedDP(noise_multiplier=0.8, l2_clip=1.0)
    round_ = for_round(method, seed=SEED, dimension=DIM, clip=1.0, dp=dp)
    secure, plain, codec, updates, weights = _both(round_, _aggregators()[name])
    assert np.array_equal(secure.sum_vector, plain.sum_vector)
    assert secure.total_weight == plain.total_weight == N - 1  # weight 1 per survivor
    assert codec.codec.plan.n_min == N_MIN


def test_every_round_seed_gives_its_own_public_map_and_the_same_map_to_everyone():
    method = Subsample(fraction=0.25)
    a, b = round_seed(), round_seed()
    same = [for_round(method, seed=a, dimension=DIM, clip=1.0).transform.indices for _ in range(2)]
    other = for_round(method, seed=b, dimension=DIM, clip=1.0).transform.indices
    assert np.array_equal(*same)
    assert not np.array_equal(same[0], other)
