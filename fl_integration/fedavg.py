"""FedAvg driven over any aggregator: sample, train locally, aggregate securely, update, evaluate.

``run_fedavg(clients, initial_parameters, FedAvgConfig(aggregator="secagg+", dp=None))`` is
the whole API: switching aggregation or DP is one argument. A round whose protocol aborts
(fewer than t survivors at some stage) is recorded as skipped and leaves the model unchanged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secagg.csprng import RandomSource
from secagg.errors import AbortError, EncodingError

from .aggregators import AggregateResult, Aggregator, RoundContext, make_aggregator
from .client import Client, Parameters, has_evaluate
from .history import History, RoundRecord
from .params import ParamSpec, flatten, unflatten
from .privacy import DistributedDP, LocalDP, PrivacyTracker
from .simulation import RoundPlan, Simulation, plan_round

if TYPE_CHECKING:
    from .quantization import Codec

log = logging.getLogger(__name__)
EvaluateFn = Callable[[Parameters], tuple[float, Mapping[str, Any]]]  # -> (loss, metrics)


@dataclass(frozen=True, kw_only=True)
class FedAvgConfig:
    """How to train: the aggregator, DP, encoding, and the simulated federation.

    ``clip`` bounds every coordinate of an update (L∞; applied to every aggregator so that plain
    and secure runs average the same vectors). ``max_weight`` is the public bound on a client's
    weight (its example count; larger counts are capped). ``bits`` is the modulus of the secure
    sum: with ``n`` clients the encoder's step is ``n * clip / 2^(bits-1)``.
    """

    aggregator: str | Aggregator = "secagg+"
    dp: LocalDP | DistributedDP | None = None
    rounds: int = 10
    bits: int = 32
    clip: float = 1.0
    max_weight: float = 1000.0
    server_lr: float = 1.0
    simulation: Simulation = field(default_factory=Simulation)
    fit_config: Mapping[str, Any] = field(default_factory=dict)
    rng: RandomSource | None = field(default=None, compare=False)  # crypto randomness; None = OS

    def __post_init__(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 0:
            raise ValueError(f"rounds must be an int >= 0, got {self.rounds!r}")
        if not (self.clip > 0 and self.max_weight > 0):
            raise ValueError("clip and max_weight must be > 0")
        if self.dp is not None and not isinstance(self.dp, LocalDP | DistributedDP):
            raise ValueError("dp must be None, LocalDP(...) or DistributedDP(...)")


@dataclass
class FedAvgResult:
    """The final parameters and the per-round history."""

    parameters: Parameters
    history: History


def run_fedavg(clients: Sequence[Client], initial_parameters: Parameters, config: FedAvgConfig,
               *, evaluate_fn: EvaluateFn | None = None,
               on_round: Callable[[RoundRecord], None] | None = None) -> FedAvgResult:
    """Train for ``config.rounds`` rounds; client i has id i+1 (ids are Shamir x-coordinates)."""
    agg = config.aggregator
    aggregator = make_aggregator(agg) if isinstance(agg, str) else agg
    run = _Run(list(clients), config, aggregator, evaluate_fn)
    flat, spec = flatten(initial_parameters)
    history = History()
    for r in range(1, config.rounds + 1):
        flat, record = run.round(r, flat, spec)
        history.append(record)
        if on_round is not None:
            on_round(record)
    return FedAvgResult(unflatten(flat, spec), history)


class _Run:
    """One training run's state: clients, aggregator, privacy ledger."""

    def __init__(self, clients: list[Client], config: FedAvgConfig, aggregator: Aggregator,
                 evaluate_fn: EvaluateFn | None) -> None:
        if not clients:
            raise ValueError("need at least one client")
        self.clients, self.config, self.aggregator = clients, config, aggregator
        self.evaluate_fn = evaluate_fn
        self.ids = tuple(range(1, len(clients) + 1))
        # ε against the server, which picks and sees the sample: no subsampling amplification
        self.privacy = PrivacyTracker(config.dp) if config.dp is not None else None

    def round(self, r: int, flat: np.ndarray, spec: ParamSpec) -> tuple[np.ndarray, RoundRecord]:
        """One round from global vector ``flat``; returns the new vector and the record."""
        plan = plan_round(self.config.simulation, r, self.ids, self.aggregator.stages)
        record = RoundRecord(round=r, sampled=plan.sampled)
        updates, weights = self._train(r, plan, flat, spec)
        made: list[Codec] = []
        ctx = RoundContext(r, plan, self._codec_factory(flat.size, made),
                           integer_only=isinstance(self.config.dp, DistributedDP),
                           rng=self.config.rng)
        try:
            result = self.aggregator.aggregate(updates, weights, ctx)
        except AbortError as exc:
            record.skipped = f"aborted at {exc}"
            _fill_costs(record, getattr(exc, "stats", {}))
            log.warning("round %d skipped, model unchanged: %s", r, exc)
        else:
            flat = flat + self.config.server_lr * result.sum_vector / result.total_weight
            _fill(record, result)
        self._account(record, made)
        self._evaluate(record, flat, spec, plan)
        return flat, record

    def _train(self, r: int, plan: RoundPlan, flat: np.ndarray, spec: ParamSpec
               ) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        """Local training of the clients whose input will be sent; clip (and privatize). A
        client whose update or weight is refused (``EncodingError``) drops out of this round at
        masked_input, as if its upload were lost: logged, left out of the survivors, run goes on."""
        params = unflatten(flat, spec)
        fit_config = {"round": r, **self.config.fit_config}
        updates, weights = {}, {}
        for cid in sorted(plan.input_survivors()):
            new, n_examples, _ = self.clients[cid - 1].fit([p.copy() for p in params], fit_config)
            try:
                updates[cid], weights[cid] = self._prepare(new, flat), self._weight(n_examples)
            except EncodingError as exc:
                log.warning("round %d: client %d refused, counted as a dropout: %s", r, cid, exc)
                lost = plan.dropouts.get("masked_input", frozenset())
                plan.dropouts["masked_input"] = lost | {cid}  # the secure protocols see it too
        return updates, weights

    def _prepare(self, new: Parameters, flat: np.ndarray) -> np.ndarray:
        """Client-side: the update ``new - flat``, refused (``EncodingError``) unless it is finite
        and real, before a clip could turn inf into the bound or a cast drop an imaginary part;
        then local DP noise and the L∞ clip every aggregator sees."""
        if any(np.asarray(p).dtype.kind not in "biuf" for p in new):
            raise EncodingError("client update must hold real numbers (not complex or objects)")
        update = flatten(new)[0] - flat
        if not np.isfinite(update).all():
            raise EncodingError("client update must be finite (it holds NaN or inf)")
        dp_config = self.config.dp
        if isinstance(dp_config, DistributedDP):
            return update  # the DP codec clips to L2 norm and noises in the integer domain
        if isinstance(dp_config, LocalDP):
            return np.clip(dp_config.privatize(update, self.config.rng), -self._linf, self._linf)
        return np.clip(update, -self.config.clip, self.config.clip)

    @property
    def _linf(self) -> float:
        dp_config = self.config.dp
        return dp_config.linf_bound if isinstance(dp_config, LocalDP) else self.config.clip

    def _weight(self, n_examples: int) -> float:
        """Client-side: the example count as a weight in [0, max_weight]; ``EncodingError`` for
        a count that is not a finite real number (it would poison the sum of weights)."""
        if self.config.dp is not None:
            return 1.0  # DP-FedAvg: unweighted mean; counts are not covered by the noise
        if isinstance(n_examples, bool) or not isinstance(
                n_examples, int | float | np.integer | np.floating) or not np.isfinite(n_examples):
            raise EncodingError("client weight (example count) must be a finite real number")
        if n_examples > self.config.max_weight:
            warnings.warn(f"client weight {n_examples} capped at max_weight "
                          f"{self.config.max_weight}", stacklevel=3)
        return float(min(max(n_examples, 0), self.config.max_weight))

    def _codec_factory(self, dimension: int, made: list[Codec]) -> Callable[[int, int], Codec]:
        cfg = self.config

        def factory(n_clients: int, n_min: int, *, colluders: int | None = None) -> Codec:
            """Under distributed DP ``n_min`` is the honest noise shares the aggregation
            guarantees in the sum; ``colluders`` its stated bound on colluding clients."""
            from .quantization import WeightedEncoding  # noqa: PLC0415 - secure paths only

            if isinstance(cfg.dp, DistributedDP):
                codec: Codec = cfg.dp.codec(dimension=dimension, n_clients=n_clients, n_min=n_min,
                                            colluders=colluders)
            else:
                max_weight = 1.0 if cfg.dp is not None else cfg.max_weight
                codec = WeightedEncoding.fit(dimension=dimension, bits=cfg.bits, clip=self._linf,
                                             max_summands=n_clients, max_weight=max_weight)
            made.append(codec)
            return codec

        return factory

    def _account(self, record: RoundRecord, made: list[Codec]) -> None:
        """ε against the server after this round (no amplification) and what it assumes: local
        noise left the clients anyway; distributed noise counts if a sum was released."""
        dp_config, tracker = self.config.dp, self.privacy
        if tracker is None:
            return
        if isinstance(dp_config, LocalDP):
            tracker.record(dp_config.event())
        elif record.skipped is None and made:
            plan, colluders = made[-1].plan, made[-1].colluders  # type: ignore[attr-defined]
            tracker.record(plan.event(), honest_shares=plan.n_min, colluders=colluders)
        record.epsilon, record.delta = tracker.epsilon(), tracker.config.delta
        record.honest_shares, record.colluders = tracker.honest_shares, tracker.colluders

    def _evaluate(self, record: RoundRecord, flat: np.ndarray, spec: ParamSpec,
                  plan: RoundPlan) -> None:
        params = unflatten(flat, spec)
        if self.evaluate_fn is not None:
            loss, metrics = self.evaluate_fn(params)
            record.loss, record.accuracy = float(loss), _accuracy(metrics)
            return
        evaluators = [self.clients[c - 1] for c in plan.sampled if has_evaluate(self.clients[c - 1])]
        if not evaluators:
            return
        results = [c.evaluate(params, {"round": record.round}) for c in evaluators]  # type: ignore[attr-defined]
        total = sum(n for _, n, _ in results) or 1
        record.loss = sum(loss * n for loss, n, _ in results) / total
        accs = [(_accuracy(m), n) for _, n, m in results]
        if all(a is not None for a, _ in accs):
            record.accuracy = sum(a * n for a, n in accs) / total  # type: ignore[operator]


def _accuracy(metrics: Mapping[str, Any]) -> float | None:
    value = metrics.get("accuracy")
    return None if value is None else float(value)


def _fill(record: RoundRecord, result: AggregateResult) -> None:
    record.survivors = tuple(sorted(result.survivors))
    record.quantization_bound = float(result.stats.get("quantization_bound", 0.0))
    _fill_costs(record, result.stats)


def _fill_costs(record: RoundRecord, stats: Mapping[str, Any]) -> None:
    record.stats = dict(stats)
    record.seconds = float(stats.get("seconds", 0.0))
    record.simulated_seconds = float(stats.get("simulated_s", 0.0))
    record.bytes_up = int(stats.get("bytes_up", 0))
    record.bytes_down = int(stats.get("bytes_down", 0))
    record.stage_seconds = {k: v["seconds"] for k, v in stats.get("stages", {}).items()}
