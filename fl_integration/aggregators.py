"""The aggregation seam: one small class per backend, all answering ``aggregate(...)``.

An aggregator gets the sampled clients' updates and weights (already clipped, and privatized for
local DP), runs them through its protocol under the round's ``RoundPlan`` (dropouts, deadlines),
and returns only what its server may learn: Σ w_i u_i and Σ w_i over the survivors.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from secagg.csprng import RandomSource
from secagg.errors import AbortError, ConfigError

from .simulation import MALICIOUS_SPARSE_STAGES, MALICIOUS_STAGES, STAGES, RoundPlan

if TYPE_CHECKING:
    from protocols.secagg.config import SecAggConfig

    from .quantization import Codec

class CodecFactory(Protocol):
    """(clients sampled, honest inputs guaranteed in the sum, colluders assumed, widest sum the
    aggregation carries) -> codec."""

    def __call__(self, n_clients: int, n_min: int, *, colluders: int | None = None,
                 max_bits: int | None = None) -> Codec: ...


AGGREGATORS = ("plain", "secagg", "secagg+", "lightsecagg", "paillier")
LIGHTSECAGG_STAGES = ("advertise_keys", "share_masks", "masked_input", "aggregate_mask")


@dataclass(frozen=True)
class RoundContext:
    """What an aggregator needs about the round besides the updates."""

    round: int
    plan: RoundPlan
    make_codec: CodecFactory
    integer_only: bool = False  # distributed DP: even plain aggregation sums the noisy integers
    rng: RandomSource | None = None  # crypto randomness (None: the OS CSPRNG)


@dataclass(frozen=True)
class AggregateResult:
    """Σ w_i u_i and Σ w_i over ``survivors``; ``stats`` has seconds, bytes and the bound."""

    sum_vector: np.ndarray
    total_weight: float
    survivors: frozenset[int]
    stats: dict[str, Any] = field(default_factory=dict)


class Aggregator(Protocol):
    """A backend: ``stages`` names the protocol stages a dropout may hit."""

    @property
    def name(self) -> str: ...

    @property
    def stages(self) -> tuple[str, ...]: ...

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult: ...


def default_threshold(n: int) -> int:
    """SecAgg's ⌊2n/3⌋+1 (Bonawitz et al.): what the plain and Paillier paths also require."""
    return min(n, (2 * n) // 3 + 1)


class PlainAggregator:
    """FedAvg's sum in the clear: the reference the secure backends are compared against."""

    name = "plain"
    stages = STAGES

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult:
        """Sum the survivors' weighted updates as floats (or as integers under distributed DP)."""
        start = time.perf_counter()
        survivors = ctx.plan.input_survivors() & updates.keys()
        if not survivors:
            raise AbortError("masked_input", 1, 0, "no client delivered an update")
        ids = sorted(survivors)
        if ctx.integer_only:
            return _integer_sum(updates, weights, ctx, ids, start)
        total = sum(float(weights[c]) * np.asarray(updates[c], dtype=np.float64) for c in ids)
        weight = float(sum(float(weights[c]) for c in ids))
        dim = len(next(iter(updates.values())))
        stats = {"seconds": time.perf_counter() - start, "bytes_up": 8 * (dim + 1) * len(ids),
                 "bytes_down": 0, "quantization_bound": 0.0, "stages": {}}
        return AggregateResult(np.asarray(total), weight, frozenset(ids), stats)


def _integer_sum(updates, weights, ctx: RoundContext, ids: list[int], start: float) -> AggregateResult:
    """Distributed DP without secure aggregation: the server sees every noisy vector, so each
    must carry the whole noise on its own (one honest share)."""
    n = len(ctx.plan.sampled)
    codec = ctx.make_codec(n, 1)
    mask = (1 << codec.bits) - 1
    total = np.zeros(codec.length, dtype=object)
    for c in ids:
        total = total + codec.encode(updates[c], weights[c], ctx.rng).astype(object)
    summed = np.array([int(v) & mask for v in total], dtype=np.uint64)
    vec, weight = codec.decode(summed, len(ids))
    stats = {"seconds": time.perf_counter() - start, "bytes_up": 8 * codec.length * len(ids),
             "bytes_down": 0, "quantization_bound": codec.mean_bound(len(ids), weight), "stages": {}}
    return AggregateResult(vec, weight, frozenset(ids), stats)


@dataclass
class SecAggAggregator:
    """SecAgg (complete graph) or SecAgg+ (sparse graph from ``for_secagg_plus``), driven
    stage by stage with the plan's deadlines; each round gets a fresh session id."""

    plus: bool = False
    malicious: bool = False
    expected_dropout: float = 0.2  # the dropout budget: a round with more dropouts aborts
    corrupt: float = 0.05  # the clients that may collude with the server (the privacy budget)

    @property
    def name(self) -> str:
        """"secagg" or "secagg+"."""
        return "secagg+" if self.plus else "secagg"

    @property
    def stages(self) -> tuple[str, ...]:
        """The protocol stages: the consistency check in malicious mode, and the graph-seed
        reveal in malicious SecAgg+ (unused when the finder picks the complete graph)."""
        if self.malicious:
            return MALICIOUS_SPARSE_STAGES if self.plus else MALICIOUS_STAGES
        return STAGES

    def config(self, client_ids: tuple[int, ...], length: int, bits: int) -> SecAggConfig:
        """This round's protocol parameters: budgets of ``expected_dropout`` dropouts and
        ``corrupt`` colluders (SecAgg: t's full dropout tolerance, at least that many)."""
        from protocols.secagg.config import SecAggConfig  # noqa: PLC0415 - loads the crypto on use
        from protocols.secagg.params import complete_parameters, worst_count  # noqa: PLC0415

        if self.plus:
            return SecAggConfig.for_secagg_plus(
                client_ids, length, dropout=self.expected_dropout, corrupt=self.corrupt,
                modulus_bits=bits, malicious=self.malicious,
            )
        n = len(client_ids)
        shape = complete_parameters(n, worst_count(self.expected_dropout, n),
                                    worst_count(self.corrupt, n), self.malicious)
        return SecAggConfig(client_ids=client_ids, vector_length=length, modulus_bits=bits,
                            malicious=self.malicious, threshold=shape.threshold,
                            max_corrupt=worst_count(self.corrupt, n))

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult:
        """Encode, run the round, decode: the server only ever holds the masked vectors."""
        from .secure_round import run_secure_round  # noqa: PLC0415 - loads the crypto on use

        ids = ctx.plan.sampled
        if len(ids) < 2:
            raise AbortError("advertise_keys", 2, len(ids), "secure aggregation needs 2 clients")
        probe = self.config(ids, 1, 32)
        codec = ctx.make_codec(len(ids), probe.min_honest_inputs, colluders=probe.max_corrupt)
        # a codec needing fewer than 8 bits still decodes from a sum mod 2^8 (it masks down)
        config = dataclasses.replace(probe, vector_length=codec.length,
                                     modulus_bits=max(8, codec.bits))

        def encoded(cid: int) -> np.ndarray:
            return codec.encode(updates[cid], weights[cid], ctx.rng)

        out = run_secure_round(config, encoded, ctx.plan, ctx.rng)
        vec, weight = codec.decode(out.total, len(out.included))
        stats = dict(out.stats, threshold=config.threshold, degree=config.degree,
                     bits=config.modulus_bits,
                     quantization_bound=codec.mean_bound(len(out.included), weight))
        return AggregateResult(vec, weight, out.included, stats)


@dataclass
class LightSecAggAggregator:
    """LightSecAgg (one-shot aggregate-mask recovery), planned for ``expected_dropout`` dropouts
    and ``corrupt`` colluders; its sum lives in GF(2^31 - 1), so the codec gets the input width
    the field leaves for this many clients (about 23 bits at 200)."""

    expected_dropout: float = 0.2
    corrupt: float = 0.05
    name: str = field(default="lightsecagg", init=False)
    stages: tuple[str, ...] = field(default=LIGHTSECAGG_STAGES, init=False)

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult:
        """Encode, run the round, decode: the server holds only masked vectors and sub-masks."""
        from protocols.lightsecagg import LightSecAggConfig  # noqa: PLC0415 - crypto on use

        from .secure_round import run_secure_round  # noqa: PLC0415

        ids = ctx.plan.sampled
        if len(ids) < 3:
            raise AbortError("advertise_keys", 3, len(ids), "LightSecAgg needs 3 clients")
        probe = LightSecAggConfig.for_rates(ids, 1, dropout=self.expected_dropout,
                                            corrupt=self.corrupt)
        codec = ctx.make_codec(len(ids), probe.min_honest_inputs, colluders=probe.max_corrupt,
                               max_bits=probe.input_bits)
        if codec.bits > probe.input_bits:
            raise AbortError("advertise_keys", codec.bits, probe.input_bits,
                             "bits the encoding needs; LightSecAgg's field carries fewer")
        config = dataclasses.replace(probe, vector_length=codec.length, input_bits=codec.bits)
        out = run_secure_round(config, lambda c: codec.encode(updates[c], weights[c], ctx.rng),
                               ctx.plan, ctx.rng)
        vec, weight = codec.decode(config.wrap(out.total), len(out.included))
        stats = dict(out.stats, threshold=config.U, degree=len(ids) - 1, bits=config.input_bits,
                     privacy_threshold=config.T,
                     quantization_bound=codec.mean_bound(len(out.included), weight))
        return AggregateResult(vec, weight, out.included, stats)


def make_aggregator(name: str, **options: Any) -> Aggregator:
    """The backend called ``name`` ("plain" | "secagg" | "secagg+" | "paillier")."""
    if name == "plain":
        return PlainAggregator(**options)
    if name in ("secagg", "secagg+"):
        return SecAggAggregator(plus=name == "secagg+", **options)
    if name == "lightsecagg":
        return LightSecAggAggregator(**options)
    if name == "paillier":
        from .paillier import PaillierAggregator  # noqa: PLC0415 - optional backend

        return PaillierAggregator(**options)
    raise ConfigError(f"aggregator must be one of {', '.join(map(repr, AGGREGATORS))}, "
                      f"got {name!r}")


__all__ = [
    "AGGREGATORS", "AggregateResult", "Aggregator", "RoundContext", "PlainAggregator",
    "SecAggAggregator", "LightSecAggAggregator", "make_aggregator", "default_threshold",
]
