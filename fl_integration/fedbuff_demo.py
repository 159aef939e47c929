"""The demo's ``--mode async``: synchronous secure FedAvg against buffered asynchronous FedBuff,
plain and secure, on one simulated clock (same clients, latency model and seed).

Latency model (heavy-tailed): a device trains for ``TrainingTime()`` seconds, log-normal with
median 10 s and sigma 1.12 (a persistent device speed, sigma 1.0, times a per-job jitter, sigma
0.5); every message takes a log-normal network delay (median 0.05 s, sigma 1.0) and is lost past
the stage deadline ``--deadline``. A synchronous round waits ``--deadline`` for each network
stage and ``--train-deadline`` (default: the 90th percentile of training time) for the masked
inputs, which include training; stragglers past it are dropouts of the round.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .aggregators import make_aggregator
from .fedavg import FedAvgConfig, run_fedavg
from .fedbuff import FedBuffConfig, run_fedbuff
from .fedbuff_latency import TrainingTime, sync_latency, sync_round_seconds
from .history import History
from .models import init_parameters
from .simulation import Simulation, plan_round

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .demo import Setup

TRAINING = TrainingTime()  # the stated heavy-tailed model: median 10 s, log-normal sigma 1.12
SYNC = "sync {agg} FedAvg"
ASYNC = "async {agg} FedBuff"
PLAIN_ASYNC = "async plain FedBuff"


@dataclass
class Curve:
    """One run on the simulated clock: (seconds, accuracy) after each round or buffer, and the
    CPU seconds of each secure aggregation."""

    history: History
    times: list[float]

    def points(self) -> list[tuple[float, float]]:
        return [(t, r.accuracy) for t, r in zip(self.times, self.history, strict=True)
                if r.accuracy is not None]

    def time_to(self, target: float) -> float | None:
        """The first simulated second the accuracy reached ``target`` (None: never)."""
        return next((t for t, a in self.points() if a >= target - 1e-12), None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``--mode async``."""
    from .demo import _positive_float, _positive_int  # noqa: PLC0415 - demo imports us lazily

    p.add_argument("--buffer-size", type=_positive_int, default=10,
                   help="async: updates per buffer K (default: 10)")
    p.add_argument("--spares", type=_nonnegative_int, default=5,
                   help="async: extra clients per cohort beyond K (default: 5)")
    p.add_argument("--concurrency", type=_positive_int, default=None,
                   help="async: clients training at once (default: --per-round)")
    p.add_argument("--max-staleness", type=_nonnegative_int, default=20,
                   help="async: oldest model version an update may be trained on (default: 20)")
    p.add_argument("--train-deadline", type=_positive_float, default=None,
                   help="sync in --mode async: seconds the masked-input stage waits, training "
                        "included (default: the 90th percentile of training time)")


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse async settings the run would refuse, with the parser's usage message."""
    from .fedbuff import MIN_BUFFER_SIZE  # noqa: PLC0415

    if args.buffer_size < MIN_BUFFER_SIZE:
        parser.error(f"--buffer-size must be >= {MIN_BUFFER_SIZE} (the privacy claim of a "
                     f"buffer's sum needs it), got {args.buffer_size}")
    if args.compression is not None:
        parser.error("--compression is not available with --mode async")
    if args.buffer_size + args.spares > args.clients:
        parser.error(f"--buffer-size + --spares ({args.buffer_size + args.spares}) must be at "
                     f"most --clients ({args.clients})")


def run(args: argparse.Namespace, setup: Setup) -> tuple[dict[str, Curve], str]:
    """Sync secure FedAvg for ``--rounds``; then plain and secure FedBuff for as long on the
    simulated clock. Returns the curves and the summary text."""
    from .demo import _dp_config  # noqa: PLC0415

    dp = _dp_config(args.dp)
    agg = args.aggregator
    curves = {SYNC.format(agg=agg): _sync(args, setup, agg, dp)}
    horizon = curves[SYNC.format(agg=agg)].times[-1]
    curves[ASYNC.format(agg=agg)] = _async(args, setup, agg, dp, horizon)
    curves[PLAIN_ASYNC] = _async(args, setup, "plain", dp, horizon)
    return curves, summary(args, curves)


def _train_deadline(args: argparse.Namespace) -> float:
    return args.train_deadline or round(TRAINING.quantile(0.9) + args.deadline, 1)


def _sync(args: argparse.Namespace, setup: Setup, agg_name: str, dp) -> Curve:
    """Synchronous rounds under the same latency model; its clock from the rounds' plans."""
    from .demo import CLIP, _evaluate, _progress  # noqa: PLC0415

    base = Simulation(dropout=args.dropout, seed=args.seed)
    train_deadline = _train_deadline(args)
    sim = Simulation(clients_per_round=min(args.per_round, args.clients), dropout=args.dropout,
                     deadline=train_deadline, seed=args.seed,
                     latency=sync_latency(TRAINING, base, args.deadline))
    options = {} if agg_name in ("plain", "paillier") else {
        "expected_dropout": min(0.5, args.dropout + 0.25)}  # + ~10% late, + margin
    aggregator = make_aggregator(agg_name, **options)
    config = FedAvgConfig(aggregator=aggregator, dp=dp, rounds=args.rounds,
                          clip=None if dp is not None else CLIP,
                          max_weight=max(len(c.y) for c in setup.clients), simulation=sim)
    label = SYNC.format(agg=agg_name)
    with _progress(label, args, args.rounds) as on_round:
        result = run_fedavg(setup.clients, init_parameters(64, 10), config, on_round=on_round,
                            evaluate_fn=lambda p: _evaluate(p, setup))
    ids = tuple(range(1, args.clients + 1))
    clock, times = 0.0, []
    for record in result.history:
        plan = plan_round(sim, record.round, ids, aggregator.stages)
        clock += sync_round_seconds(plan, stage_deadline=args.deadline,
                                    input_deadline=train_deadline)
        times.append(clock)
    return Curve(result.history, times)


def _async(args: argparse.Namespace, setup: Setup, agg_name: str, dp, horizon: float) -> Curve:
    """FedBuff with the same clients, latency model and seed, for ``horizon`` simulated s."""
    from .demo import CLIP, _evaluate, _progress  # noqa: PLC0415

    concurrency = min(args.concurrency or args.per_round, args.clients)
    cohort = args.buffer_size + args.spares
    config = FedBuffConfig(
        aggregator=agg_name, buffer_size=args.buffer_size, spares=args.spares,
        concurrency=max(concurrency, cohort), max_staleness=args.max_staleness,
        buffers=10**9, time_limit=horizon, dp=dp, clip=None if dp is not None else CLIP,
        max_weight=max(len(c.y) for c in setup.clients), training=TRAINING,
        simulation=Simulation(dropout=args.dropout, deadline=args.deadline, seed=args.seed))
    label = ASYNC.format(agg=agg_name)
    with _progress(label, args, None) as on_buffer:
        result = run_fedbuff(setup.clients, init_parameters(64, 10), config,
                             on_buffer=on_buffer, evaluate_fn=lambda p: _evaluate(p, setup))
    return Curve(result.history, [r.time for r in result.history])


def summary(args: argparse.Namespace, curves: dict[str, Curve]) -> str:
    """Time to the sync run's final accuracy, final accuracies, CPU per buffer and round."""
    agg = args.aggregator
    sync, secure = curves[SYNC.format(agg=agg)], curves[ASYNC.format(agg=agg)]
    plain = curves[PLAIN_ASYNC]
    target = sync.history.final_accuracy or 0.0
    t_sync, t_async = sync.time_to(target), secure.time_to(target)
    ratio = "not reached in the same time" if t_async is None or t_sync is None else (
        f"{t_sync / t_async:.2f}x faster ({t_sync:.0f} s sync vs {t_async:.0f} s async)")
    buffers = [r for r in secure.history if not r.skipped]
    cpu = [r.cpu_seconds for r in buffers]
    stale = [t for r in buffers for t in r.staleness.values()]
    lines = [
        "",
        f"mode async: {args.clients} clients; sync {min(args.per_round, args.clients)}/round "
        f"for {args.rounds} rounds; async K={args.buffer_size} + {args.spares} spares, "
        f"concurrency {min(args.concurrency or args.per_round, args.clients)}; dropout "
        f"{args.dropout:.0%}",
        f"latency model: training log-normal, median {TRAINING.median:g} s, sigma "
        f"{TRAINING.sigma:.2f} (device speed {TRAINING.speed_sigma:g}, per job "
        f"{TRAINING.jitter_sigma:g}); network log-normal median 0.05 s, sigma 1; stage deadline "
        f"{args.deadline} s; sync masked-input deadline {_train_deadline(args)} s",
        f"time to the sync run's final accuracy {target:.2%}: async {agg} FedBuff {ratio}",
        f"final accuracy after {sync.times[-1]:.0f} simulated s: sync {agg} "
        f"{_pct(sync.history.final_accuracy)}, async {agg} {_pct(secure.history.final_accuracy)}, "
        f"async plain {_pct(plain.history.final_accuracy)}",
        f"secure buffers: {len(buffers)} ({len(secure.history) - len(buffers)} skipped), "
        f"staleness mean {_mean(stale):.2f}, max {max(stale, default=0)}, stragglers "
        f"{_mean([len(r.stragglers) for r in buffers]):.1f} per buffer; CPU per buffer "
        f"{_mean(cpu):.3f} s mean, {max(cpu, default=0.0):.3f} s max (every party, one process); "
        f"compute {_mean([r.seconds for r in buffers]):.3f} s per buffer (server + slowest "
        f"client per stage)",
        f"sync rounds: {len(sync.history)} ({len(sync.history.skipped)} skipped), aggregation "
        f"compute {sync.history.total_seconds / max(1, len(sync.history)):.3f} s per round (server + "
        f"slowest client per stage)",
    ]
    return "\n".join(lines)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def figure(curves: dict[str, Curve], title: str) -> Figure:
    """Accuracy against simulated wall-clock time, runs side by side; below, the CPU seconds
    of each secure aggregation (a buffer or a round) against simulated time."""
    from .demo import _extra  # noqa: PLC0415

    _extra("matplotlib").use("Agg")
    fig = _extra("matplotlib.pyplot").figure(figsize=(12, 8), dpi=110, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1.4, 1))
    colours = dict(zip(curves, ["tab:blue", "tab:orange", "0.35"], strict=False))
    for label, curve in curves.items():
        xs, ys = zip(*curve.points(), strict=True) if curve.points() else ((), ())
        final = f" (final {100 * ys[-1]:.1f}%)" if ys else ""
        top.plot(xs, [100 * y for y in ys], label=label + final, color=colours[label],
                 linestyle="--" if "plain" in label else "-", linewidth=2)
        cpu = [(t, r.stats.get("seconds", 0.0)) for t, r in zip(curve.times, curve.history,
                                                                 strict=True)
               if "plain" not in label]
        if cpu:
            bottom.plot(*zip(*cpu, strict=True), ".", color=colours[label], label=label)
    top.set(xlabel="simulated wall-clock time (s)", ylabel="test accuracy (%)", ylim=(0, 100),
            title="test accuracy against simulated time")
    bottom.set(xlabel="simulated wall-clock time (s)", ylabel="seconds",
               title="secure-aggregation compute per round / buffer (server + slowest client)")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    fig.suptitle(title, fontsize=12)
    return fig


def plot(curves: dict[str, Curve], path: Path, title: str) -> Path:
    """:func:`figure`, saved as a PNG at ``path``."""
    from .demo import save_figure  # noqa: PLC0415

    return save_figure(figure(curves, title), path)


def main(args: argparse.Namespace, setup: Setup, start: float) -> int:
    """Train the three runs, print the summary, write ``fedbuff.png``."""
    import time  # noqa: PLC0415

    curves, text = run(args, setup)
    title = (f"Sync vs buffered async secure FL on digits: {args.clients} clients, "
             f"heavy-tailed training times, {args.dropout:.0%} dropout")
    png = plot(curves, args.out / "fedbuff.png", title)
    print(text)
    print(f"plot: {png}")
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    sys.stdout.flush()
    return 0
