"""End-to-end demo: FedAvg on scikit-learn's digits across non-IID clients, secure vs plain.

``python -m fl_integration.demo`` trains a softmax-regression model over 100 simulated clients
(Dirichlet label skew), 25 sampled per round, 10% dropping out at random protocol stages and
stragglers past the stage deadline treated as dropped; it runs plain FedAvg with the same seed
for comparison (and a DP run if asked), prints a line per round and a summary, and writes a PNG
of accuracy, cost per round (seconds, bytes) and, with DP, ε. Needs the ``demo`` extra
(scikit-learn, matplotlib, tqdm): ``pip install 'secagg[demo]'``, or ``make demo``.

``--mode async`` instead compares synchronous secure FedAvg with buffered asynchronous FedBuff,
plain and secure, on one simulated clock under heavy-tailed training times
(:mod:`.fedbuff_demo`, ``docs/async.md``), and writes ``fedbuff.png``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from . import fedbuff_demo
from .aggregators import AGGREGATORS, SecAggAggregator, make_aggregator
from .compression import SYNTAX, Compression, check_compression, parse
from .datasets import dirichlet_split, load_digits_split
from .fedavg import FedAvgConfig, FedAvgResult, run_fedavg
from .history import History, RoundRecord
from .models import NumpyClient, init_parameters, loss_and_accuracy
from .privacy import DistributedDP, LocalDP
from .simulation import Simulation

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

DP_CHOICES = ("none", "local", "distributed")
MODES = ("sync", "async")
PLAIN = "plain FedAvg"  # the label of the unprotected reference run
CLIP = 1.0  # the L∞ bound on every update of the runs without DP
DP_L2_CLIP = 1.0  # the L2 bound on every update of the DP run
#: import name -> distribution, for every module of the ``demo`` extra
DEMO_EXTRA = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "tqdm": "tqdm"}
INSTALL_DEMO = "pip install 'secagg[demo]' (or run `make demo`, which installs it)"


def _missing_extras() -> list[str]:
    """The distributions of the demo extra that are not installed."""
    return [dist for module, dist in DEMO_EXTRA.items() if importlib.util.find_spec(module) is None]


def _extra(module: str) -> ModuleType:
    """Import ``module`` of the demo extra, or raise an ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"the demo needs {DEMO_EXTRA[module.split('.')[0]]}: "
                          f"{INSTALL_DEMO}") from exc


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
    p.add_argument("--mode", choices=MODES, default="sync",
                   help="sync: FedAvg rounds (default); async: sync secure FedAvg against plain "
                        "and secure buffered FedBuff on a simulated clock (out/fedbuff.png)")
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
    p.add_argument("--compression", type=_compression, default=None, metavar="METHOD",
                   help=f"compress the uploads of every run but the plain FedAvg reference: "
                        f"{SYNTAX} (default: none)")
    fedbuff_demo.add_arguments(p)
    return p


def _compression(text: str) -> Compression | None:
    try:
        return parse(text)
    except ValueError as exc:  # ConfigError
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass
class Setup:
    """The data, clients and evaluation shared by every run of the demo."""

    clients: list[NumpyClient]
    x_test: np.ndarray
    y_test: np.ndarray


def make_setup(args: argparse.Namespace) -> Setup:
    """Load digits, split non-IID over the clients."""
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=args.seed)
    parts = dirichlet_split(y_tr, args.clients, args.alpha, seed=args.seed)
    clients = [NumpyClient(i + 1, x_tr[p], y_tr[p], epochs=3, lr=0.3, seed=args.seed)
               for i, p in enumerate(parts)]
    return Setup(clients, x_te, y_te)


def run_one(label: str, args: argparse.Namespace, setup: Setup, aggregator: str,
            dp: LocalDP | DistributedDP | None, *,
            compression: Compression | None = None) -> FedAvgResult:
    """One training run with a progress bar (on a terminal only) and a line per round."""
    tqdm = _extra("tqdm").tqdm
    agg = make_aggregator(aggregator)
    if isinstance(agg, SecAggAggregator):  # the parameter finder plans for the drop rate it sees
        agg.expected_dropout = min(0.3, args.dropout + 0.05)
    sim = Simulation(clients_per_round=min(args.per_round, args.clients), dropout=args.dropout,
                     deadline=args.deadline, seed=args.seed)
    config = FedAvgConfig(aggregator=agg, dp=dp, rounds=args.rounds,
                          clip=None if dp is not None else CLIP,
                          max_weight=max(len(c.y) for c in setup.clients), simulation=sim,
                          compression=compression)
    # a bar redraws itself with \r: only on a terminal, or it interleaves with the lines
    bar = tqdm(total=args.rounds, desc=f"{label:>12}", leave=False, file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())

    def on_round(record) -> None:
        bar.update(1)
        if not args.quiet:
            bar.write(f"[{label}] {record.line()}")

    try:
        return run_fedavg(setup.clients, init_parameters(64, 10), config, on_round=on_round,
                          evaluate_fn=lambda p: _evaluate(p, setup))
    finally:
        bar.close()


@contextmanager
def _progress(label: str, args: argparse.Namespace, total: int | None
              ) -> Iterator[Callable[[RoundRecord], None]]:
    """A progress bar (on a terminal only) and a printed line per round or buffer."""
    tqdm = _extra("tqdm").tqdm
    bar = tqdm(total=total, desc=f"{label:>12}", leave=False, file=sys.stderr,
               disable=args.quiet or not sys.stderr.isatty())

    def on_record(record: RoundRecord) -> None:
        bar.update(1)
        if not args.quiet:
            bar.write(f"[{label}] {record.line()}")

    try:
        yield on_record
    finally:
        bar.close()


def _evaluate(params, setup: Setup):
    loss, acc = loss_and_accuracy(params, setup.x_test, setup.y_test)
    return loss, {"accuracy": acc}


def _dp_config(name: str) -> LocalDP | DistributedDP | None:
    if name == "local":
        return LocalDP(epsilon=8.0, delta=1e-5, l2_clip=DP_L2_CLIP)
    if name == "distributed":
        return DistributedDP(noise_multiplier=1.0, l2_clip=DP_L2_CLIP, delta=1e-5)
    return None


def plot(runs: dict[str, History], path: Path, title: str) -> Path:
    """The figure of :func:`figure`, saved as a PNG at ``path``."""
    return save_figure(figure(runs, title), path)


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (making its directory) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    _extra("matplotlib.pyplot").close(fig)
    return path


def figure(runs: dict[str, History], title: str) -> Figure:
    """Accuracy per round on top; below, each run's aggregation cost per round (compute seconds,
    megabytes) against the plain run's, and, when a run has DP, its ε."""
    _extra("matplotlib").use("Agg")
    with_dp = {k: h for k, h in runs.items() if any(r.epsilon is not None for r in h)}
    fig = _extra("matplotlib.pyplot").figure(figsize=(12, 8), dpi=110, layout="constrained")
    grid = fig.add_gridspec(2, 3 if with_dp else 2, height_ratios=(1.2, 1))
    styles = _styles(runs)
    _accuracy_panel(fig.add_subplot(grid[0, :]), runs, styles)
    jit = "the first secure round includes one-off JIT compilation" if set(runs) - {PLAIN} else None
    _cost_panel(fig.add_subplot(grid[1, 0]), runs, styles, _seconds,
                "aggregation compute per round", "seconds (log scale)", "{:.3g} s in all", jit)
    _cost_panel(fig.add_subplot(grid[1, 1]), runs, styles, _megabytes,
                "aggregation traffic per round", "MB sent + received", "{:.2f} MB in all")
    if with_dp:
        _epsilon_panel(fig.add_subplot(grid[1, 2]), with_dp, styles)
    fig.suptitle(title, fontsize=12)
    return fig


def _styles(runs: dict[str, History]) -> dict[str, dict]:
    """One look per run in every panel: the plain reference grey and dashed, on top."""
    colours = iter(["tab:blue", "tab:orange", "tab:green", "tab:purple"])
    return {label: dict(color="0.25", linestyle="--", linewidth=1.6, zorder=4) if label == PLAIN
            else dict(color=next(colours), linewidth=2.4, alpha=0.85) for label in runs}


def _accuracy_panel(ax, runs: dict[str, History], styles: dict[str, dict]) -> None:
    """Test accuracy per round; skipped rounds marked; the quantization bound as a note."""
    for label, history in runs.items():
        points = [(r.round, 100 * r.accuracy) for r in history if r.accuracy is not None]
        if not points:
            continue
        ax.plot(*zip(*points, strict=True), label=f"{label} (final {points[-1][1]:.1f}%)",
                **styles[label])
        skipped = [(x, y) for x, y in points if history.records[x - 1].skipped]
        if skipped:
            ax.scatter(*zip(*skipped, strict=True), marker="x", color="crimson", zorder=5,
                       label=f"{label}: round skipped")
    ax.set(xlabel="round", ylabel="test accuracy (%)", ylim=(0, 100), title="test accuracy")
    _finish(ax, legend=dict(loc="best", title=_bound_note(runs), title_fontsize=8))


def _finish(ax, legend: dict) -> None:
    """Integer rounds on x, a light grid, the legend."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - demo extra, loaded by plot()

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(**legend)


def _bound_note(runs: dict[str, History]) -> str:
    """Why the secure and plain curves coincide: the secure mean's distance to the plain one."""
    secure = [(k, h) for k, h in runs.items() if k != PLAIN and h.records
              and h.records[0].epsilon is None and h.records[0].stats.get("bits")
              and "compression" not in h.records[0].stats]  # compressed: not a rounding bound
    if not secure:
        return ""
    label, history = secure[0]
    bound = max((r.quantization_bound for r in history if not r.skipped), default=0.0)
    return (f"{label} and {PLAIN} overlap: the secure mean is within\n{bound:.1e} of the "
            "plain one per coordinate (fixed-point rounding)")


def _seconds(history: History) -> list[float]:
    return [r.seconds for r in history]


def _megabytes(history: History) -> list[float]:
    return [(r.bytes_up + r.bytes_down) / 1e6 for r in history]


def _cost_panel(ax, runs: dict[str, History], styles: dict[str, dict], values, title: str,
                ylabel: str, total: str, note: str | None = None) -> None:
    """One cost per round for every run, the run's total in its legend entry."""
    plain = sum(values(runs[PLAIN])) if PLAIN in runs else 0.0
    for label, history in runs.items():
        ys = values(history)
        ratio = f" ({_times(sum(ys) / plain)} plain)" if label != PLAIN and plain > 0 else ""
        ax.plot([r.round for r in history], ys, label=f"{label}: {total.format(sum(ys))}{ratio}",
                **styles[label])
    if "log" in ylabel:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set(xlabel="round", ylabel=ylabel, title=title)
    # below the panel: inside, the totals would hide the lines of a narrow panel
    _finish(ax, legend=dict(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8,
                            title=note, title_fontsize=8, frameon=False))


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _epsilon_panel(ax, runs: dict[str, History], styles: dict[str, dict]) -> None:
    """ε spent so far against the server, for each run with DP."""
    for label, history in runs.items():
        points = [(r.round, r.epsilon) for r in history if r.epsilon is not None]
        delta = history.records[-1].delta
        text = f"{label}: ε={points[-1][1]:.2f} at δ={delta:g}"
        ax.plot(*zip(*points, strict=True), label=text, **styles[label])
    ax.set(xlabel="round", ylabel="ε spent so far", title="privacy against the server")
    ax.set_ylim(bottom=0)
    _finish(ax, legend=dict(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8,
                            frameon=False))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def summary(args: argparse.Namespace, runs: dict[str, History], secure_label: str,
            dp_label: str | None, wall: float, png: Path) -> str:
    """The closing lines: final accuracies, secure-aggregation cost, where the plot is."""
    secure, plain = runs[secure_label], runs[PLAIN]
    record = next((r for r in secure if r.stats.get("threshold")), None)
    stats = record.stats if record is not None else {}
    graph = ""
    if record is not None:
        shape = ("complete graph" if stats["degree"] >= len(record.sampled) - 1
                 else f"neighbours k={stats['degree']}")
        graph = f" ({shape}, threshold t={stats['threshold']}, b={stats['bits']})"
        if "privacy_threshold" in stats:  # LightSecAgg
            graph = (f" (recovery U={stats['threshold']}, privacy T="
                     f"{stats['privacy_threshold']}, b={stats['bits']})")
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
        *_plain_cost(args, plain),
        _bound_line(args, secure, bound),
        _clipping(secure, f"clip at ±{CLIP} per coordinate"),
    ]
    if dp_label is not None:
        hist = runs[dp_label]
        eps = next((r.epsilon for r in reversed(hist.records) if r.epsilon is not None), None)
        eps_text = "n/a" if eps is None else f"{eps:.2f}"
        lines.append(f"with {args.dp} DP: final accuracy {_pct(hist.final_accuracy)}, "
                     f"epsilon = {eps_text} at delta = 1e-5 after {args.rounds} rounds")
        lines.append(_clipping(hist, f"with {args.dp} DP, L2 clip at {DP_L2_CLIP}"))
    lines += [f"plot: {png}", f"wall time: {wall:.1f} s"]
    return "\n".join(lines)


def _bound_line(args: argparse.Namespace, secure: History, bound: float) -> str:
    """How far the secure mean is from the plain one: a rounding bound, or, compressed, what
    the compression sends instead."""
    if args.compression is None:
        return f"quantization bound: |secure mean - plain mean| < {bound:.2e} per coordinate"
    record = next((r for r in secure if r.stats.get("compression")), None)
    shape = args.compression.label() if record is None else record.stats["compression"]
    return f"compression: {shape} (estimates the plain mean; no rounding bound to it)"


def _plain_cost(args: argparse.Namespace, plain: History) -> list[str]:
    """The unprotected run's cost, beside the secure one's (nothing when they are the same run)."""
    if args.aggregator == "plain":
        return []
    return [f"plain FedAvg aggregation: {plain.total_seconds:.2f} s compute, "
            f"{plain.total_bytes / 1e6:.2f} MB sent and received"]


def _clipping(history: History, rule: str) -> str:
    """How often the clip changed an update: the mean and the largest fraction per round."""
    fractions = [r.clipped_fraction for r in history if r.clipped_fraction is not None]
    if not fractions:
        return f"{rule}: no update sent"
    return (f"{rule}: changed {sum(fractions) / len(fractions):.1%} of the updates per round "
            f"({max(fractions):.1%} at most)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, train the runs, print the summary, write the plot."""
    args = build_parser().parse_args(argv)
    if args.per_round < 2 and args.aggregator != "plain":
        build_parser().error("--per-round must be >= 2 for secure aggregation")
    if args.mode == "async":
        fedbuff_demo.check(args, build_parser())
    try:
        check_compression(args.compression, _dp_config(args.dp), 32, args.per_round)
    except ValueError as exc:  # ConfigError: e.g. sign voting under distributed DP
        build_parser().error(f"--compression: {exc}")
    missing = _missing_extras()
    if missing:
        raise SystemExit(f"python -m fl_integration.demo needs {', '.join(missing)} (the demo "
                         f"extra): {INSTALL_DEMO}")
    logging.basicConfig(level=logging.ERROR)
    start = time.perf_counter()
    setup = make_setup(args)
    if args.mode == "async":
        return fedbuff_demo.main(args, setup, start)
    runs: dict[str, History] = {}  # plotted in this order: the plain reference last, on top
    secure_label = PLAIN
    squeeze = args.compression
    if args.aggregator != "plain" or squeeze is not None:  # plain + compression: its own run
        secure_label = args.aggregator + ("" if squeeze is None else f" + {squeeze.label()}")
        runs[secure_label] = run_one(secure_label, args, setup, args.aggregator, None,
                                     compression=squeeze).history
    dp_label = None
    if args.dp != "none":
        dp_label = f"{args.aggregator} + {args.dp} DP"
        runs[dp_label] = run_one(dp_label, args, setup, args.aggregator, _dp_config(args.dp),
                                 compression=squeeze).history
    runs[PLAIN] = run_one(PLAIN, args, setup, "plain", None).history
    title = (f"FedAvg on digits: {args.clients} clients, {min(args.per_round, args.clients)}/round, "
             f"{args.dropout:.0%} dropout, Dirichlet alpha={args.alpha}")
    png = plot(runs, args.out / "fedavg.png", title)
    print(summary(args, runs, secure_label, dp_label, time.perf_counter() - start, png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
