"""FedAvg driven over any aggregator: sample, train locally, aggregate securely, update, evaluate.

``run_fedavg(clients, initial_parameters, FedAvgConfig(aggregator="secagg+", clip=1.0))`` is
the whole API: switching aggregation is one argument, and so is DP (``dp=LocalDP(...)`` in place
of ``clip``: its ``l2_clip`` bounds the updates). A round whose protocol aborts
(fewer than t survivors at some stage) is recorded as skipped and leaves the model unchanged.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secagg.csprng import RandomSource
from secagg.errors import AbortError, ConfigError, EncodingError

from .aggregators import (
    AGGREGATORS,
    AggregateResult,
    Aggregator,
    CodecFactory,
    RoundContext,
    make_aggregator,
)
from .client import Client, Parameters, has_evaluate
from .compression import Compression, ErrorFeedback, check_compression, for_round, round_seed
from .deadlines import AdaptiveDeadline
from .history import History, RoundRecord
from .params import ParamSpec, flatten, unflatten
from .privacy import DistributedDP, LocalDP, PrivacyTracker
from .server_opt import FedAvg, ServerOptimizer, check_server_optimizer
from .simulation import RoundPlan, Simulation, plan_round

if TYPE_CHECKING:
    from .compression.codec import RoundCompression
    from .quantization import Codec

log = logging.getLogger(__name__)
EvaluateFn = Callable[[Parameters], tuple[float, Mapping[str, Any]]]  # -> (loss, metrics)


@dataclass(frozen=True, kw_only=True)
class FedAvgConfig:
    """How to train: the aggregator, DP, encoding, and the simulated federation; validated here.

    ``clip`` is the public bound on every coordinate of an update (L∞), applied with every
    aggregator so that plain and secure runs average the same vectors; it has no default, since a
    bound below the updates silently shrinks them (each round records how many it changed, in
    ``RoundRecord.clipped_fraction``, and logs a warning). With ``dp`` the bound is the DP
    config's ``l2_clip`` and ``clip`` must be left out. ``max_weight`` is the public bound on a
    client's weight (its example count; larger counts are capped). ``bits`` is the modulus of the
    secure sum: with ``n`` clients the encoder's step is ``n * clip / 2^(bits-1)``.
    ``compression`` (``Quantize(bits=4)``, ``Subsample(fraction=0.1)``, ``CountSketch(width=...)``,
    ``SignVote()``, or None) shortens or narrows the integer vectors every aggregator sums, plain
    included; ``bits`` is then the widest word it may pack them into.

    ``server_optimizer`` (``FedAvgM(...)``, ``FedAdam(...)``, ``FedYogi(...)``,
    ``FedAdagrad(...)``, ``FedAvg(lr=...)``; :mod:`.server_opt`) turns the released mean update
    into the model step; None is ``FedAvg(lr=server_lr)``. Give one or the other: a
    ``server_lr`` other than 1.0 next to an optimizer is refused (the optimizer has its own lr).
    FedProx is client-side: ``fit_config={"proximal_mu": 0.01}`` (clients built on
    ``NumpyClient``/``models.sgd`` honour it).

    ``algorithm="scaffold"`` runs SCAFFOLD (Karimireddy et al. 2020, option II): each sampled
    client gets the model followed by the server's control variate c, and returns the new model
    followed by Δc_i (see ``NumpyClient.fit``). What it submits to the aggregator is the one
    vector concat(Δy_i, Δc_i), of length 2·d, so Δc_i is summed under the same secure
    aggregation as the update and the server only learns the sum. Both halves are inside the
    same public bound (the L∞ ``clip``, or the DP config's L2 ``l2_clip`` over the whole 2·d
    vector): pick it for the larger of the two (Δc_i is about Δy_i/(K·lr)). Both halves carry the
    client's weight, so the server splits the weighted mean into mean Δy (the model step, through
    the server optimizer) and mean Δc, and sets c ← c + (|S|/N)·mean Δc over the survivors S of
    the N clients (the paper's rule; exact when the weights are equal, e.g. under DP). A client
    moves its c_i only when its input is in the released sum, and by the Δc_i it submitted (after
    the clip; DP noise and compression left out), so with equal weights c stays the mean of the
    clients' c_i. Needs clients that implement it (``NumpyClient``: ``fit`` with ``"scaffold"``
    in the config, and ``commit_control(delta_c)``).
    """

    aggregator: str | Aggregator = "secagg+"
    dp: LocalDP | DistributedDP | None = None
    rounds: int = 10
    bits: int = 32
    clip: float | None = None
    max_weight: float = 1000.0
    server_lr: float = 1.0
    server_optimizer: ServerOptimizer | None = None
    algorithm: str = "fedavg"  # or "scaffold"
    simulation: Simulation = field(default_factory=Simulation)
    fit_config: Mapping[str, Any] = field(default_factory=dict)
    rng: RandomSource | None = field(default=None, compare=False)  # crypto randomness; None = OS
    compression: Compression | None = None

    def __post_init__(self) -> None:
        _check_aggregator(self.aggregator)
        if self.dp is not None and not isinstance(self.dp, LocalDP | DistributedDP):
            raise ConfigError(f"dp must be None, LocalDP(...) or DistributedDP(...), got {self.dp!r}")
        _check_int("rounds", self.rounds, 0, None)
        _check_int("bits", self.bits, 8, 64)
        _check_clip(self.clip, self.dp)
        for name in ("max_weight", "server_lr"):
            _check_positive(name, getattr(self, name))
        if not isinstance(self.simulation, Simulation):
            raise ConfigError(f"simulation must be a Simulation(...), got {self.simulation!r}")
        if not isinstance(self.fit_config, Mapping):
            raise ConfigError(f"fit_config must be a mapping, got {self.fit_config!r}")
        check_compression(self.compression, self.dp, self.bits,
                          self.simulation.clients_per_round)
        _check_policies(self)


ALGORITHMS = ("fedavg", "scaffold")


def _check_policies(config: FedAvgConfig) -> None:
    """The server optimizer (one step rule, not two), the algorithm, FedProx's mu."""
    check_server_optimizer(config.server_optimizer)
    if config.server_optimizer is not None and config.server_lr != 1.0:
        raise ConfigError(f"server_lr must be left at 1.0 with a server_optimizer (set the "
                          f"optimizer's lr instead), got server_lr={config.server_lr!r}")
    if config.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}, got "
                          f"{config.algorithm!r}")
    mu = config.fit_config.get("proximal_mu", 0.0)
    if isinstance(mu, bool) or not isinstance(mu, int | float) or not (
            math.isfinite(mu) and mu >= 0):
        raise ConfigError(f"fit_config['proximal_mu'] (FedProx's mu) must be a finite number "
                          f">= 0, got {mu!r}")


def _check_aggregator(aggregator: object) -> None:
    """A backend name from ``AGGREGATORS``, or an object with ``aggregate`` and ``stages``."""
    if isinstance(aggregator, str):
        if aggregator not in AGGREGATORS:
            raise ConfigError(f"aggregator must be one of {', '.join(map(repr, AGGREGATORS))} "
                              f"(or an Aggregator object), got {aggregator!r}")
    elif not (callable(getattr(aggregator, "aggregate", None)) and hasattr(aggregator, "stages")):
        raise ConfigError(f"aggregator must be one of {', '.join(map(repr, AGGREGATORS))} or an "
                          f"object with aggregate() and stages, got {aggregator!r}")


def _check_clip(clip: object, dp: object) -> None:
    """Required without DP (a positive finite number); left out with DP, whose l2_clip rules."""
    if dp is not None:
        if clip is not None:
            raise ConfigError(f"clip must be left out with dp: {type(dp).__name__}.l2_clip "
                              f"bounds the updates, got clip={clip!r}")
        return
    if clip is None:
        raise ConfigError("clip is required: the public bound on every coordinate of a client's "
                          "update (L∞, applied with every aggregator), e.g. clip=1.0; updates "
                          "beyond it are clipped and each round reports how many were")
    _check_positive("clip", clip)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        allowed = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")


@dataclass
class FedAvgResult:
    """The final parameters and the per-round history (and, under SCAFFOLD, the server's
    control variate c, shaped like the parameters)."""

    parameters: Parameters
    history: History
    control: Parameters | None = None


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
    control = unflatten(run.server_control(flat.size), spec) if run.scaffold else None
    return FedAvgResult(unflatten(flat, spec), history, control)


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
        self.feedback = ErrorFeedback()  # client-side residuals, one per client id
        self.optimizer = (config.server_optimizer or FedAvg(lr=config.server_lr)).start()
        deadline = config.simulation.deadline
        self.deadlines = deadline.start() if isinstance(deadline, AdaptiveDeadline) else None
        self.scaffold = config.algorithm == "scaffold"
        self.control: np.ndarray | None = None  # SCAFFOLD's server control variate c
        self.sent_control: dict[int, np.ndarray] = {}  # client-side: Δc_i as submitted
        if self.scaffold:
            _check_scaffold_clients(clients)

    def round(self, r: int, flat: np.ndarray, spec: ParamSpec) -> tuple[np.ndarray, RoundRecord]:
        """One round from global vector ``flat``; returns the new vector and the record."""
        stages = self.aggregator.stages
        deadlines = self.deadlines.deadlines(stages) if self.deadlines is not None else None
        plan = plan_round(self.config.simulation, r, self.ids, stages, deadlines=deadlines)
        record = RoundRecord(round=r, sampled=plan.sampled)
        size = self._base(flat).size  # what each client submits: 2·d under SCAFFOLD
        compression = self._compression(size)
        updates, weights, clipped = self._train(r, plan, flat, spec, compression)
        self._note_clipping(record, len(clipped), len(updates))
        made: list[Codec] = []
        ctx = RoundContext(r, plan, self._codec_factory(size, made, compression),
                           integer_only=isinstance(self.config.dp, DistributedDP)
                           or compression is not None, rng=self.config.rng)
        until = None  # the stage a round aborted at: later stages never ran
        try:
            result = self.aggregator.aggregate(updates, weights, ctx)
        except AbortError as exc:
            until = exc.stage
            record.skipped = f"aborted at {exc}"
            _fill_costs(record, getattr(exc, "stats", {}))
            log.warning("round %d skipped, model unchanged: %s", r, exc)
        else:
            flat = self._step(flat, spec, result)
            self.feedback.commit(result.survivors)
            _fill(record, result)
            if compression is not None and made:
                record.stats["compression"] = _shape(compression.method, made[-1])
        self.feedback.pending.clear()  # a skipped round commits no residual
        self.sent_control.clear()  # nor control variate
        self._note_deadlines(record, plan, until)
        self._account(record, made)
        self._evaluate(record, flat, spec, plan)
        return flat, record

    def _train(self, r: int, plan: RoundPlan, flat: np.ndarray, spec: ParamSpec,
               compression: RoundCompression | None = None
               ) -> tuple[dict[int, np.ndarray], dict[int, float], set[int]]:
        """Local training of the clients whose input will be sent; clip (and privatize), noting
        whose update the clip changed. A client whose update or weight is refused
        (``EncodingError``) drops out of this round at masked_input, as if its upload were lost:
        logged, left out of the survivors, run goes on."""
        params = unflatten(flat, spec)
        fit_config = {"round": r, **self.config.fit_config}
        if self.scaffold:  # the model, then the server's control variate c
            params += unflatten(self.server_control(flat.size), spec)
            fit_config["scaffold"] = True
        base = self._base(flat)
        updates, weights, clipped = {}, {}, set()
        for cid in sorted(plan.input_survivors()):
            new, n_examples, _ = self.clients[cid - 1].fit([p.copy() for p in params], fit_config)
            try:
                update, was_clipped = self._prepare(new, base)
                weights[cid] = self._weight(n_examples)
                if compression is not None:
                    update, was_clipped = self._compress_side(cid, update, weights[cid],
                                                              was_clipped, compression)
            except EncodingError as exc:
                log.warning("round %d: client %d refused, counted as a dropout: %s", r, cid, exc)
                lost = plan.dropouts.get("masked_input", frozenset())
                plan.dropouts["masked_input"] = lost | {cid}  # the secure protocols see it too
                continue
            updates[cid] = update
            if self.scaffold:
                self.sent_control[cid] = self._clipped(flatten(new)[0] - base)[flat.size :]
            if was_clipped:
                clipped.add(cid)
        return updates, weights, clipped

    def _prepare(self, new: Parameters, flat: np.ndarray) -> tuple[np.ndarray, bool]:
        """Client-side: the update ``new - flat``, refused (``EncodingError``) unless it is finite
        and real, before a clip could turn inf into the bound or a cast drop an imaginary part;
        then local DP noise and the L∞ clip every aggregator sees. Also: did the clip change it."""
        if any(np.asarray(p).dtype.kind not in "biuf" for p in new):
            raise EncodingError("client update must hold real numbers (not complex or objects)")
        returned = flatten(new)[0]
        if returned.size != flat.size:
            raise EncodingError(f"client update must have {flat.size} values, got "
                                f"{returned.size}")
        update = returned - flat
        if not np.isfinite(update).all():
            raise EncodingError("client update must be finite (it holds NaN or inf)")
        dp_config = self.config.dp
        if isinstance(dp_config, DistributedDP):  # the DP codec clips to L2 norm, noises in Z
            return update, _l2_above(update, dp_config.l2_clip)
        if isinstance(dp_config, LocalDP):
            noisy = dp_config.privatize(update, self.config.rng)
            bites = _l2_above(update, dp_config.l2_clip) or _linf_above(noisy, self._linf)
            return np.clip(noisy, -self._linf, self._linf), bites
        return np.clip(update, -self._linf, self._linf), _linf_above(update, self._linf)

    def _base(self, flat: np.ndarray) -> np.ndarray:
        """What a client's returned vector is measured from: the model, and under SCAFFOLD
        zeros for the Δc_i it returns as is."""
        return np.concatenate([flat, np.zeros_like(flat)]) if self.scaffold else flat

    def server_control(self, dimension: int) -> np.ndarray:
        """SCAFFOLD's c (zeros until a round moved it)."""
        return np.zeros(dimension) if self.control is None else self.control

    def _step(self, flat: np.ndarray, spec: ParamSpec, result: AggregateResult) -> np.ndarray:
        """The server optimizer's step on the released mean; under SCAFFOLD the mean's second
        half moves c by (|S|/N)·mean Δc, and the survivors move their c_i by what they sent."""
        mean = result.sum_vector / result.total_weight
        if self.scaffold:
            mean, mean_dc = mean[: flat.size], mean[flat.size :]
            share = len(result.survivors) / len(self.clients)
            self.control = self.server_control(flat.size) + share * mean_dc
            for cid in sorted(result.survivors):
                sent = unflatten(self.sent_control[cid], spec)
                self.clients[cid - 1].commit_control(sent)  # type: ignore[attr-defined]
        return self.optimizer.step(flat, mean)

    def _clipped(self, update: np.ndarray) -> np.ndarray:
        """Client-side: the update as the clip leaves it, without DP noise (L∞ ``clip``, or the
        DP config's L2 ``l2_clip`` over the whole vector)."""
        dp_config = self.config.dp
        if dp_config is None:
            return np.clip(update, -self._linf, self._linf)
        norm = float(np.linalg.norm(update))
        return update * min(1.0, dp_config.l2_clip / norm) if norm > 0 else update

    def _note_deadlines(self, record: RoundRecord, plan: RoundPlan, until: str | None) -> None:
        """Record each stage's deadline and who answered after it (through the stage a round
        aborted at), and feed what the server saw to an adaptive policy."""
        for stage in plan.stages:
            deadline = plan.deadline_for(stage)
            if deadline is not None:
                record.deadlines[stage] = float(deadline)
                late = plan.late(stage)
                if late:
                    record.missed[stage] = tuple(sorted(late))
            if stage == until:
                break
        if self.deadlines is not None:
            self.deadlines.observe(plan, until)

    def _compression(self, dimension: int) -> RoundCompression | None:
        """This round's public compression, from a fresh public seed (a deployed server draws
        it and ships it with the round's config)."""
        cfg = self.config
        if cfg.compression is None:
            return None
        dp_config = cfg.dp if isinstance(cfg.dp, DistributedDP) else None
        linf = 1.0 if dp_config is not None else self._linf  # unused under distributed DP
        return for_round(cfg.compression, seed=round_seed(cfg.rng), dimension=dimension,
                         clip=linf, dp=dp_config)

    def _compress_side(self, cid: int, update: np.ndarray, weight: float, was_clipped: bool,
                       compression: RoundCompression) -> tuple[np.ndarray, bool]:
        """Client-side: add the client's error-feedback residual and hold the new one; note
        whether the compression clips (a rotated value beyond ``Quantize.bound``)."""
        if compression.method.error_feedback:
            update = self.feedback.apply(cid, update)
            self.feedback.hold(cid, compression.residual(update))
        share = 1.0 if self.config.dp is not None else weight / self.config.max_weight
        return update, was_clipped or compression.clips(update, share)

    def _note_clipping(self, record: RoundRecord, clipped: int, sent: int) -> None:
        """Record the fraction of this round's updates the clip changed; warn once if any."""
        record.clipped_fraction = clipped / sent if sent else None
        if clipped:
            log.warning("round %d: the clip changed %d of %d client updates (%s); they move the "
                        "model by less than they asked", record.round, clipped, sent,
                        _clip_rule(self.config))

    @property
    def _linf(self) -> float:
        dp_config = self.config.dp
        if isinstance(dp_config, LocalDP):
            return dp_config.linf_bound
        assert self.config.clip is not None  # FedAvgConfig requires it without DP
        return self.config.clip

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

    def _codec_factory(self, dimension: int, made: list[Codec],
                       compression: RoundCompression | None = None
                       ) -> CodecFactory:
        cfg = self.config

        def factory(n_clients: int, n_min: int, *, colluders: int | None = None,
                    max_bits: int | None = None) -> Codec:
            """Under distributed DP ``n_min`` is the honest noise shares the aggregation
            guarantees in the sum; ``colluders`` its stated bound on colluding clients;
            ``max_bits`` the widest sum the aggregation carries (LightSecAgg's field)."""
            from .quantization import WeightedEncoding  # noqa: PLC0415 - secure paths only

            if compression is not None:
                codec: Codec = compression.codec(
                    n_clients=n_clients, max_weight=1.0 if cfg.dp is not None else cfg.max_weight,
                    bits=cfg.bits, max_bits=max_bits, n_min=n_min, colluders=colluders)
            elif isinstance(cfg.dp, DistributedDP):
                codec = cfg.dp.codec(dimension=dimension, n_clients=n_clients, n_min=n_min,
                                     colluders=colluders)
            else:
                max_weight = 1.0 if cfg.dp is not None else cfg.max_weight
                bits = cfg.bits if max_bits is None else min(cfg.bits, max_bits)
                codec = WeightedEncoding.fit(dimension=dimension, bits=bits, clip=self._linf,
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
            record.accuracy = sum(a * n for a, n in accs) / total


def _check_scaffold_clients(clients: Sequence[Client]) -> None:
    """SCAFFOLD needs clients that return Δc_i and keep c_i (``NumpyClient`` does)."""
    for i, client in enumerate(clients):
        if not callable(getattr(client, "commit_control", None)):
            raise ConfigError(f"algorithm='scaffold' needs clients that implement SCAFFOLD "
                              f"(fit with config['scaffold'] and commit_control(delta_c), as "
                              f"NumpyClient does); client {i + 1} is a {type(client).__name__}")


def _l2_above(update: np.ndarray, bound: float) -> bool:
    return float(np.linalg.norm(update)) > bound


def _linf_above(update: np.ndarray, bound: float) -> bool:
    return bool(update.size) and float(np.abs(update).max()) > bound


def _clip_rule(config: FedAvgConfig) -> str:
    """Which bound clipped, and which setting sets it, for the warning."""
    rotated = ""
    bound = getattr(config.compression, "bound", None)
    if bound is not None:  # Quantize clips rotated values
        rotated = f"; or a rotated value beyond ±{bound:g}, Quantize.bound"
    if config.dp is not None:
        return f"L2 norm above {config.dp.l2_clip:g}, {type(config.dp).__name__}.l2_clip{rotated}"
    return f"a coordinate beyond ±{config.clip:g}, FedAvgConfig.clip{rotated}"


def _shape(method: Compression, codec: Codec) -> str:
    """What a compressed round sent: the method, and words of b bits per client."""
    return f"{method.label()}, {codec.length} words of {codec.bits} bits per client"


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
