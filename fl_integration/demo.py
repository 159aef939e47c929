"""End-to-end demo: FedAvg on scikit-learn's digits across non-IID clients, secure vs plain.

``python -m fl_integration.demo`` trains a softmax-regression model over 100 simulated clients
(Dirichlet label skew), 25 sampled per round, 10% dropping out at random protocol stages and
stragglers past the stage deadline treated as dropped; it runs plain FedAvg with the same seed
for comparison (and a DP run if asked), prints a line per round and a summary, and writes a PNG.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .aggregators import AGGREGATORS, SecAggAggregator, make_aggregator
from .datasets import dirichlet_split, load_digits_split
from .fedavg import FedAvgConfig, FedAvgResult, run_fedavg
from .history import History
from .models import NumpyClient, init_parameters, loss_and_accuracy
from .privacy import DistributedDP, LocalDP
from .simulation import Simulation

DP_CHOICES = ("none", "local", "distributed")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    p = argparse.ArgumentParser(
        prog="python -m fl_integration.demo",
        description="Federated averaging on scikit-learn's digits with secure aggregation.")
    p.add_argument("--aggregator", choices=AGGREGATORS, default="secagg+",
                   help="aggregation backend (default: secagg+)")
    p.add_argument("--dp", choices=DP_CHOICES, default="none",
                   help="add a run with local or distributed DP (default: none)")
    p.add_argument("--clients", type=_positive_int, default=100, help="clients in the federation")
    p.add_argument("--per-round", type=_positive_int, default=25,
                   help="clients sampled per round (default: 25)")
    p.add_argument("--rounds", type=_positive_int, default=40, help="training rounds")
    p.add_argument("--dropout", type=_fraction, default=0.1,
                   help="probability a sampled client drops out (default: 0.1)")
    p.add_argument("--deadline", type=_positive_float, default=0.5,
                   help="seconds each protocol stage waits for stragglers (simulated clock)")
    p.add_argument("--alpha", type=_positive_float, default=0.5,
                   help="Dirichlet label-skew concentration; smaller is more non-IID")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (not of secrets)")
    p.add_argument("--out", type=Path, default=Path("out"), help="directory for the plot")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-round lines")
    return p


@dataclass
class Setup:
    """The data, clients and evaluation shared by every run of the demo."""

    clients: list[NumpyClient]
    x_test: object
    y_test: object


def make_setup(args: argparse.Namespace) -> Setup:
    """Load digits, split non-IID over the clients."""
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=args.seed)
    parts = dirichlet_split(y_tr, args.clients, args.alpha, seed=args.seed)
    clients = [NumpyClient(i + 1, x_tr[p], y_tr[p], epochs=3, lr=0.3, seed=args.seed)
               for i, p in enumerate(parts)]
    return Setup(clients, x_te, y_te)


def run_one(label: str, args: argparse.Namespace, setup: Setup, aggregator: str,
            dp: LocalDP | DistributedDP | None) -> FedAvgResult:
    """One training run with a progress bar and a line per round."""
    from tqdm import tqdm  # noqa: PLC0415 - demo extra

    agg = make_aggregator(aggregator)
    if isinstance(agg, SecAggAggregator):  # the parameter finder plans for the drop rate it sees
        agg.expected_dropout = min(0.3, args.dropout + 0.05)
    sim = Simulation(clients_per_round=min(args.per_round, args.clients), dropout=args.dropout,
                     deadline=args.deadline, seed=args.seed)
    config = FedAvgConfig(aggregator=agg, dp=dp, rounds=args.rounds, clip=1.0,
                          max_weight=max(len(c.y) for c in setup.clients), simulation=sim)
    bar = tqdm(total=args.rounds, desc=f"{label:>12}", disable=args.quiet, leave=False,
               file=sys.stderr)

    def on_round(record) -> None:
        bar.update(1)
        if not args.quiet:
            bar.write(f"[{label}] {record.line()}")

    try:
        return run_fedavg(setup.clients, init_parameters(64, 10), config, on_round=on_round,
                          evaluate_fn=lambda p: _evaluate(p, setup))
    finally:
        bar.close()


def _evaluate(params, setup: Setup):
    loss, acc = loss_and_accuracy(params, setup.x_test, setup.y_test)
    return loss, {"accuracy": acc}


def _dp_config(name: str) -> LocalDP | DistributedDP | None:
    if name == "local":
        return LocalDP(epsilon=8.0, delta=1e-5, l2_clip=1.0)
    if name == "distributed":
        return DistributedDP(noise_multiplier=1.0, l2_clip=1.0, delta=1e-5)
    return None


def plot(runs: dict[str, History], path: Path, title: str) -> Path:
    """Accuracy per round, one line per run, saved as a PNG."""
    import matplotlib  # noqa: PLC0415 - demo extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    plain_style = dict(color="0.3", linestyle="--", linewidth=1.6, zorder=4)
    for label, history in runs.items():
        xs = [r.round for r in history if r.accuracy is not None]
        ys = [100 * r.accuracy for r in history if r.accuracy is not None]
        style = plain_style if label == "plain FedAvg" else dict(linewidth=2.4, alpha=0.85)
        eps = history.records[-1].epsilon if history.records else None
        final = f" ({ys[-1]:.1f}%" + (f", ε={eps:.1f}" if eps is not None else "") + ")" if ys else ""
        ax.plot(xs, ys, label=f"{label}{final}", **style)
        skipped = [r.round for r in history if r.skipped]
        if skipped:
            ax.scatter(skipped, [ys[xs.index(s)] for s in skipped if s in xs], marker="x",
                       color="crimson", zorder=3, label=f"{label}: round skipped")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def summary(args: argparse.Namespace, runs: dict[str, History], secure_label: str,
            dp_label: str | None, wall: float, png: Path) -> str:
    """The closing lines: final accuracies, secure-aggregation cost, where the plot is."""
    secure, plain = runs[secure_label], runs["plain FedAvg"]
    record = next((r for r in secure if r.stats.get("threshold")), None)
    stats = record.stats if record is not None else {}
    graph = ""
    if record is not None:
        shape = ("complete graph" if stats["degree"] >= len(record.sampled) - 1
                 else f"neighbours k={stats['degree']}")
        graph = f" ({shape}, threshold t={stats['threshold']}, b={stats['bits']})"
    bound = max((r.quantization_bound for r in secure if not r.skipped), default=0.0)
    lines = [
        "",
        f"summary: {args.clients} clients, {min(args.per_round, args.clients)} sampled per round, "
        f"{args.rounds} rounds, dropout {args.dropout:.0%}, deadline {args.deadline}s, "
        f"alpha {args.alpha}",
        f"aggregator: {args.aggregator}{graph}",
        f"final accuracy: {_pct(secure.final_accuracy)} (plain FedAvg: {_pct(plain.final_accuracy)})",
        f"{'secure ' if args.aggregator != 'plain' else 'plain (unprotected) '}aggregation: "
        f"{secure.total_seconds:.2f} s compute, "
        f"{secure.total_bytes / 1e6:.2f} MB sent and received, "
        f"{len(secure.skipped)} round(s) skipped",
        f"quantization bound: |secure mean - plain mean| < {bound:.2e} per coordinate",
    ]
    if dp_label is not None:
        hist = runs[dp_label]
        eps = next((r.epsilon for r in reversed(hist.records) if r.epsilon is not None), None)
        eps_text = "n/a" if eps is None else f"{eps:.2f}"
        lines.append(f"with {args.dp} DP: final accuracy {_pct(hist.final_accuracy)}, "
                     f"epsilon = {eps_text} at delta = 1e-5 after {args.rounds} rounds")
    lines += [f"plot: {png}", f"wall time: {wall:.1f} s"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, train the runs, print the summary, write the plot."""
    args = build_parser().parse_args(argv)
    if args.per_round < 2 and args.aggregator != "plain":
        build_parser().error("--per-round must be >= 2 for secure aggregation")
    logging.basicConfig(level=logging.ERROR)
    start = time.perf_counter()
    setup = make_setup(args)
    runs: dict[str, History] = {}  # plotted in this order: the plain reference last, on top
    secure_label = "plain FedAvg"
    if args.aggregator != "plain":
        secure_label = args.aggregator
        runs[secure_label] = run_one(secure_label, args, setup, args.aggregator, None).history
    dp_label = None
    if args.dp != "none":
        dp_label = f"{args.aggregator} + {args.dp} DP"
        runs[dp_label] = run_one(dp_label, args, setup, args.aggregator, _dp_config(args.dp)).history
    runs["plain FedAvg"] = run_one("plain FedAvg", args, setup, "plain", None).history
    title = (f"FedAvg on digits: {args.clients} clients, {min(args.per_round, args.clients)}/round, "
             f"{args.dropout:.0%} dropout, Dirichlet alpha={args.alpha}")
    png = plot(runs, args.out / "accuracy.png", title)
    print(summary(args, runs, secure_label, dp_label, time.perf_counter() - start, png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
