"""Compression under the mask on the demo's task: upload, accuracy and seconds for every method.

``python -m bench.compression`` trains the demo's FedAvg (scikit-learn digits, softmax
regression of 650 parameters, 100 non-IID clients, 25 sampled per round, 10% dropout, 40
rounds; :mod:`fl_integration.demo`'s own setup and runner) with SecAgg+ once per setting,
uncompressed 32-bit first, and reports per setting:

- upload per client per round, from the protocol's byte counters: the masked-input message
  (the compressed vector, packed at b bits per word, plus its fixed framing) and the whole
  round (key advertisement, share bundles, masked input, unmasking shares), with each one's
  ratio to the uncompressed run;
- final test accuracy (mean over ``--repeats`` runs; min-max beside it);
- seconds per round: a client's protocol work plus its encoding, the server's protocol work
  plus its decoding (the protocol's stage timers, and the codec timed alone on real updates);
- a PNG of accuracy against cumulative upload per client for every setting.

The random choices of the simulation (sampling, dropouts, data split) are seeded; the crypto and
the stochastic rounding draw from the OS CSPRNG, so accuracy varies a little between runs of one
setting: ``--repeats 3`` shows how much. On a 2-core machine the default takes about 1 minute
when the machine is quiet (2 when shared), ``--repeats 3`` three times that; ``--quick`` is a
smoke run.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.machine import machine_info
from fl_integration import FedAvgConfig, Simulation, demo, make_aggregator, run_fedavg
from fl_integration.compression import for_round, parse, round_seed
from fl_integration.history import History
from fl_integration.models import init_parameters
from fl_integration.params import flatten, unflatten
from fl_integration.quantization import WeightedEncoding

#: the settings run by default; "none" is the uncompressed 32-bit reference
SETTINGS = (
    "none",
    "quantize:bits=4",
    "quantize:bits=2,bound=0.1",
    "quantize:bits=2,bound=0.1,fraction=0.5",
    "subsample:fraction=0.25",
    "subsample:fraction=0.25,error_feedback=true",
    "sketch:width=163",
    "signvote:step=0.1",
    "signvote:step=0.2,fraction=0.15",
)
QUICK = ("none", "quantize:bits=2,bound=0.1,fraction=0.5", "signvote:step=0.2,fraction=0.15")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench compression", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", action="append", dest="settings", metavar="METHOD",
                   help="a compression to run (repeatable; default: the built-in list), "
                        "as the demo's --compression takes it, e.g. quantize:bits=4")
    p.add_argument("--rounds", type=int, default=40, help="training rounds (default 40)")
    p.add_argument("--clients", type=int, default=100, help="clients (default 100)")
    p.add_argument("--per-round", type=int, default=25, help="sampled per round (default 25)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout rate (default 0.1)")
    p.add_argument("--repeats", type=int, default=1, help="runs per setting (default 1)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("bench-out/compression"),
                   help="directory for the table, JSON and plot (default bench-out/compression)")
    p.add_argument("--hidden", type=int, default=0,
                   help="hidden units: 0 is the demo's softmax regression (650 parameters); "
                        "128 makes it a 9,610-parameter MLP, where the masked vector dominates")
    p.add_argument("--quick", action="store_true", help="3 settings, 5 rounds: a smoke run")
    return p


@dataclass
class Row:
    """One setting's measurements (means over rounds and repeats)."""

    setting: str
    label: str
    bits: int  # b, the modulus of the secure sum (a packed word)
    words: int  # integers per client
    masked_up: float  # masked-input message bytes per client per round
    total_up: float  # all stages' upload bytes per client per round
    accuracy: float
    accuracy_range: tuple[float, float]
    client_s: float  # protocol seconds of the slowest client, summed over stages, + encoding
    server_s: float  # protocol seconds of the server + decoding
    encode_ms: float
    decode_ms: float
    skipped: int
    clipped: float  # mean fraction of updates a clip changed (L∞ clip, or Quantize.bound)
    curve: list[tuple[float, float, float]] = field(default_factory=list)  # cum masked, total, acc


def main(argv: Sequence[str] | None = None) -> int:
    """Run every setting, print the table, write ``compression.{md,json,png}`` under ``--out``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the clipped fraction is a column instead
    settings = args.settings or (QUICK if args.quick else SETTINGS)
    rounds = 5 if args.quick else args.rounds
    flags = ["--clients", str(args.clients), "--per-round", str(args.per_round), "--rounds",
             str(rounds), "--dropout", str(args.dropout), "--seed", str(args.seed), "--quiet"]
    demo_args = demo.build_parser().parse_args(flags)
    setup = demo.make_setup(demo_args)
    from protocols import warm_up  # noqa: PLC0415 - JIT before the first timed round

    warm_up()
    start = time.perf_counter()
    rows = [_run(text, demo_args, setup, args.repeats, args.hidden) for text in settings]
    wall = time.perf_counter() - start
    table = _table(rows, demo_args, args.repeats, wall, args.hidden)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compression.md").write_text(table + "\n")
    (args.out / "compression.json").write_text(json.dumps(
        {"machine": machine_info(), "flags": flags, "repeats": args.repeats,
         "rows": [asdict(r) for r in rows]}, indent=1, default=str))
    png = _plot(rows, args.out / "compression.png", demo_args, args.hidden)
    print(f"\nplot: {png}\ntable: {args.out / 'compression.md'}\nwall time: {wall:.0f} s")
    return 0


def _run(text: str, demo_args: argparse.Namespace, setup: demo.Setup, repeats: int,
         hidden: int) -> Row:
    method = parse(text)
    label = "uncompressed 32-bit" if method is None else method.label()
    histories = [_train(label, demo_args, setup, method, hidden) for _ in range(repeats)]
    encode_s, decode_s, words = _codec_seconds(method, setup, demo_args.per_round, hidden)
    per_round = [_round_costs(h) for h in histories]
    masked = statistics.mean(c[0] for costs in per_round for c in costs)
    total = statistics.mean(c[1] for costs in per_round for c in costs)
    accs = [100 * (h.final_accuracy or 0.0) for h in histories]
    ok = [r for h in histories for r in h if not r.skipped]
    return Row(
        setting=text, label=label, bits=int(ok[-1].stats["bits"]) if ok else 0,
        words=words,
        masked_up=masked, total_up=total, accuracy=statistics.mean(accs),
        accuracy_range=(min(accs), max(accs)),
        client_s=statistics.mean(c[2] for costs in per_round for c in costs) + encode_s,
        server_s=statistics.mean(c[3] for costs in per_round for c in costs) + decode_s,
        encode_ms=1e3 * encode_s, decode_ms=1e3 * decode_s,
        skipped=sum(len(h.skipped) for h in histories),
        clipped=statistics.mean(r.clipped_fraction or 0.0 for h in histories for r in h),
        curve=_curve(histories))


def _train(label: str, demo_args: argparse.Namespace, setup: demo.Setup, method: object,
           hidden: int) -> History:
    """The demo's SecAgg+ run (``demo.run_one``); with ``hidden`` the same federation and
    settings on the demo's one-hidden-layer model."""
    if not hidden:
        return demo.run_one(label, demo_args, setup, "secagg+", None, compression=method).history
    agg = make_aggregator("secagg+")
    agg.expected_dropout = min(0.3, demo_args.dropout + 0.05)  # as demo.run_one plans it
    sim = Simulation(clients_per_round=demo_args.per_round, dropout=demo_args.dropout,
                     deadline=demo_args.deadline, seed=demo_args.seed)
    config = FedAvgConfig(aggregator=agg, rounds=demo_args.rounds, clip=demo.CLIP,
                          max_weight=max(len(c.y) for c in setup.clients), simulation=sim,
                          compression=method)
    return run_fedavg(setup.clients, init_parameters(64, 10, hidden=hidden), config,
                      evaluate_fn=lambda p: demo._evaluate(p, setup)).history


def _round_costs(history: History) -> list[tuple[float, float, float, float]]:
    """Per round: (masked-input bytes per sender, all upload per starting client, client s,
    server s), from the protocol's own counters."""
    out = []
    for r in history:
        stages = r.stats.get("stages", {})
        if "masked_input" not in stages or not stages["masked_input"]["sent"]:
            continue
        first = next(iter(stages.values()))
        out.append((stages["masked_input"]["bytes_up"] / stages["masked_input"]["sent"],
                    r.bytes_up / max(1, first["sent"]),
                    sum(s["client_max_s"] for s in stages.values()),
                    sum(s["server_s"] for s in stages.values())))
    return out


def _curve(histories: list[History]) -> list[tuple[float, float, float]]:
    """Mean over repeats of (cumulative masked bytes, cumulative upload, accuracy) per round."""
    points = []
    for h in histories:
        masked = total = 0.0
        run = []
        for r in h:
            stages = r.stats.get("stages", {})
            if stages:
                first = next(iter(stages.values()))
                mi = stages.get("masked_input", {})
                masked += mi.get("bytes_up", 0) / max(1, mi.get("sent", 0))
                total += r.bytes_up / max(1, first["sent"])
            run.append((masked, total, 100 * (r.accuracy or 0.0)))
        points.append(run)
    return [tuple(float(np.mean(col)) for col in zip(*step, strict=True))  # type: ignore[misc]
            for step in zip(*points, strict=True)]


def _codec_seconds(method: object, setup: demo.Setup, n: int, hidden: int
                   ) -> tuple[float, float, int]:
    """(one client's encode, the server's decode) in seconds, medians, on n real first-round
    updates of the demo's model; and the integers per client."""
    params = init_parameters(64, 10, hidden=hidden)
    flat, spec = flatten(params)
    updates, weights = [], []
    for client in setup.clients[:n]:
        new, examples, _ = client.fit(unflatten(flat, spec), {"round": 1})
        updates.append(np.clip(flatten(new)[0] - flat, -demo.CLIP, demo.CLIP))
        weights.append(float(examples))
    max_weight = max(len(c.y) for c in setup.clients)
    if method is None:
        codec = WeightedEncoding.fit(dimension=flat.size, bits=32, clip=demo.CLIP,
                                     max_summands=n, max_weight=max_weight)
    else:
        round_ = for_round(method, seed=round_seed(), dimension=flat.size, clip=demo.CLIP)
        codec = round_.codec(n_clients=n, max_weight=max_weight, bits=32)
    encode, words = [], []
    for u, w in zip(updates, weights, strict=True):
        t0 = time.perf_counter()
        words.append(codec.encode(u, w).astype(np.uint64))
        encode.append(time.perf_counter() - t0)
    total = np.sum(words, axis=0) & np.uint64((1 << codec.bits) - 1)
    decode = []
    for _ in range(5):
        t0 = time.perf_counter()
        codec.decode(total, n)
        decode.append(time.perf_counter() - t0)
    return statistics.median(encode), statistics.median(decode), codec.length


def _table(rows: list[Row], demo_args: argparse.Namespace, repeats: int, wall: float,
           hidden: int) -> str:
    base = rows[0]
    model = f"{hidden}-unit MLP" if hidden else "softmax regression"
    head = (f"SecAgg+ on the demo's digits task ({model}): {demo_args.clients} clients, "
            f"{demo_args.per_round} per round, {demo_args.rounds} rounds, dropout "
            f"{demo_args.dropout:.0%}, {repeats} run(s) per setting, {wall:.0f} s in all; "
            f"upload per client per round (protocol byte counters), ratio to `{base.label}`")
    lines = [head, "",
             "| setting | b × words | masked input B | × | all stages B | × | accuracy % | "
             "clipped | client s (encode ms) | server s (decode ms) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        spread = "" if r.accuracy_range[0] == r.accuracy_range[1] else \
            f" ({r.accuracy_range[0]:.2f}–{r.accuracy_range[1]:.2f})"
        skipped = f", {r.skipped} skipped" if r.skipped else ""
        lines.append(
            f"| {r.label} | {r.bits} × {r.words} | {r.masked_up:,.0f} | {base.masked_up / r.masked_up:.1f} | "
            f"{r.total_up:,.0f} | {base.total_up / r.total_up:.2f} | {r.accuracy:.2f}{spread}"
            f"{skipped} | {r.clipped:.1%} | {r.client_s:.4f} ({r.encode_ms:.2f}) | {r.server_s:.4f} "
            f"({r.decode_ms:.2f}) |")
    return "\n".join(lines)


def _plot(rows: list[Row], path: Path, demo_args: argparse.Namespace, hidden: int) -> Path:
    """Accuracy against cumulative upload per client: the masked vector, and the whole round."""
    import matplotlib  # noqa: PLC0415 - the demo extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(14, 7.5), dpi=110, layout="constrained")
    for row, style in zip(rows, _styles(rows), strict=True):
        for ax, col in zip(axes, (0, 1), strict=True):
            xs = [p[col] / 1e3 for p in row.curve]
            ys = [p[2] for p in row.curve]
            ax.plot(xs, ys, **style)
            ax.plot(xs[-1:], ys[-1:], marker="o", markersize=6, color=style["color"])
    titles = ("masked input only: the compressed vector",
              "whole round: keys, share bundles, masked input, unmasking")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set(xlabel="cumulative upload per client (KB, log scale)",
               ylabel="test accuracy (%)", title=title, ylim=(60, 96))
        ax.grid(True, which="both", alpha=0.3)
    labels = [f"{r.label}: {r.accuracy:.1f}%, {rows[0].masked_up / r.masked_up:.1f}× less masked "
              f"input, {rows[0].total_up / r.total_up:.2f}× less in all" for r in rows]
    fig.legend(axes[0].lines[::2], labels, loc="outside lower center", ncol=2, fontsize=9,
               title="final accuracy (dot), upload per client per round against uncompressed",
               title_fontsize=9, frameon=False)
    model = f"{hidden}-unit MLP" if hidden else "softmax regression"
    fig.suptitle(f"Compression under SecAgg+: digits ({model}), {demo_args.per_round} of "
                 f"{demo_args.clients} clients per round, {demo_args.rounds} rounds", fontsize=12)
    fig.savefig(path)
    plt.close(fig)
    return path


def _styles(rows: list[Row]) -> list[dict]:
    """One colour family per method, a line style per variant; the reference black, dashed."""
    families = {"Quantize": "Blues", "Subsample": "Reds", "CountSketch": "Purples",
                "SignVote": "Greens"}
    import matplotlib.pyplot as plt  # noqa: PLC0415 - the demo extra

    seen: dict[str, int] = {}
    out = []
    for row in rows:
        family = row.label.split("(")[0]
        if family not in families:
            out.append(dict(color="black", linestyle="--", linewidth=2.4, zorder=5))
            continue
        k = seen[family] = seen.get(family, -1) + 1
        colour = plt.get_cmap(families[family])(max(0.45, 0.95 - 0.22 * k))
        out.append(dict(color=colour, linestyle=("-", "-.", ":", "--")[k % 4], linewidth=2.0))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
