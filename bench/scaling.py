"""``python -m bench scaling``: round cost vs number of clients, per protocol, role and stage.

Dropouts are a simulation choice: a seeded random subset of ``rate * n`` clients goes silent
after ``share_keys`` (i.e. before sending ``masked_input``), the expensive case for the server.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from protocols.config import SecAggConfig
from protocols.simulate import simulate_round

PROTOCOLS = ("secagg", "secagg+")
BONAWITZ = "Bonawitz et al. 2017 (Java, 1 thread, other hardware)"
# (n, client s, server s) at 100K values, 10% dropout
BONAWITZ_POINTS = [(500, 0.85, 62.0), (1000, None, 180.0)]
FIELDS = ["protocol", "n", "dim", "dropout", "repeat", "server_s", "client_mean_s",
          "client_max_s", "bytes_up_per_client", "bytes_down_per_client", "included"]


def _list(kind, text):
    try:
        vals = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma list of {kind.__name__}: {text!r}") from exc
    if not vals:
        raise argparse.ArgumentTypeError("empty list")
    return vals


def parse_args(argv):
    """Parse and validate the flags; exits 2 with a message on bad input."""
    p = argparse.ArgumentParser(prog="python -m bench scaling", description=__doc__)
    p.add_argument("--protocol", type=lambda s: _list(str, s), default=list(PROTOCOLS))
    p.add_argument("--clients", type=lambda s: _list(int, s), default=None)
    p.add_argument("--dim", type=lambda s: _list(int, s), default=None)
    p.add_argument("--dropout", type=lambda s: _list(float, s), default=[0.0, 0.1, 0.3])
    p.add_argument("--out", type=Path, default=Path("bench-out/scaling"))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--full", action="store_true", help="clients 50..1000, dims 1e4..1e6")
    a = p.parse_args(argv)
    bad = [x for x in a.protocol if x not in PROTOCOLS]
    if bad:
        p.error(f"unknown protocol(s) {bad}; choose from {list(PROTOCOLS)}")
    a.clients = a.clients or ([50, 100, 200, 500, 1000] if a.full else [50, 100, 200])
    a.dim = a.dim or ([10**4, 10**5, 10**6] if a.full else [10**4])
    if min(a.clients) < 3:
        p.error("--clients: every count must be >= 3")
    if min(a.dim) < 1:
        p.error("--dim: every length must be >= 1")
    if not all(0.0 <= d < 0.5 for d in a.dropout):
        p.error("--dropout: rates must be in [0, 0.5)")
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    return a


def _config(protocol, n, dim, rate):
    ids = list(range(1, n + 1))
    if protocol == "secagg+":
        return SecAggConfig.for_secagg_plus(ids, dim, dropout=max(rate, 0.05))
    return SecAggConfig(client_ids=ids, threshold=n // 2 + 1, vector_length=dim, modulus_bits=32)


def run_one(protocol, n, dim, rate, seed):
    """One round; returns (flat row, per-stage stats)."""
    gen = np.random.default_rng(seed)  # simulation choice only, not a secret
    cfg = _config(protocol, n, dim, rate)
    dtype = np.uint32 if cfg.modulus_bits <= 32 else np.uint64
    inputs = {u: gen.integers(0, 1000, dim).astype(dtype) for u in cfg.client_ids}
    drop = gen.choice(cfg.client_ids, int(rate * n), replace=False).tolist()
    res = simulate_round(cfg, inputs, {"masked_input": drop})
    row = {"protocol": protocol, "n": n, "dim": dim, "dropout": rate, "included": len(res.included)}
    row.update({k: res.stats[k] for k in FIELDS[5:10]})
    return row, res.stats.get("stages", {})


def slope(xs, ys):
    """Least-squares slope of log(y) vs log(x)."""
    if len(set(xs)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def summarize(rows):
    """Markdown table (means over repeats) plus fitted growth exponents per protocol."""
    lines = ["| protocol | n | dim | dropout | server s | client mean s | client max s "
             "| up B/client | down B/client |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['protocol']} | {r['n']} | {r['dim']} | {r['dropout']} | "
                     f"{r['server_s']:.3f} | {r['client_mean_s']:.4f} | {r['client_max_s']:.4f} | "
                     f"{r['bytes_up_per_client']:.0f} | {r['bytes_down_per_client']:.0f} |")
    lines.append("")
    for proto in sorted({r["protocol"] for r in rows}):
        sel = [r for r in rows if r["protocol"] == proto]
        for key, role in (("client_mean_s", "client"), ("server_s", "server")):
            s = slope([r["n"] for r in sel], [max(r[key], 1e-9) for r in sel])
            lines.append(f"- {proto} {role} cost ~ n^{s:.2f}")
    lines.append(f"- Reference, {BONAWITZ}: 0.85 s/client and 62 s server at n=500, 100K values, "
                 "10% dropout; ~180 s server at n=1000.")
    return "\n".join(lines)


def plot(rows, stages, out):
    """time-vs-n (log-log, per role), bytes-vs-n, and stage breakdown PNGs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(r["protocol"], r["dim"], r["dropout"]) for r in rows})
    for fname, cols, ylabel in (("time_vs_n.png", ("client_mean_s", "server_s"), "seconds"),
                                ("bytes_vs_n.png", ("bytes_up_per_client",
                                                    "bytes_down_per_client"), "bytes per client")):
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        for ax, col in zip(axes, cols, strict=True):
            for k in keys:
                sel = sorted((r for r in rows if (r["protocol"], r["dim"], r["dropout"]) == k),
                             key=lambda r: r["n"])
                ax.plot([r["n"] for r in sel], [max(r[col], 1e-9) for r in sel], "o-",
                        label=f"{k[0]} dim={k[1]} drop={k[2]}")
            if fname == "time_vs_n.png":
                i = 1 if col == "client_mean_s" else 2
                pts = [(p[0], p[i]) for p in BONAWITZ_POINTS if p[i] is not None]
                ax.plot(*zip(*pts, strict=True), "k*", ms=12, label=BONAWITZ + ", 100K values")
            ax.set(xscale="log", yscale="log", xlabel="clients n", ylabel=ylabel, title=col)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(12, 5))
    names = sorted({s for st in stages for s in st[1]})
    labels = [f"{r['protocol']}\nn={r['n']} d={r['dropout']}" for r in rows]
    bottom = np.zeros(len(rows))
    for name in names:
        vals = np.array([st[1].get(name, {}).get("server_s", 0.0) for st in stages])
        ax.bar(range(len(rows)), vals, bottom=bottom, label=name)
        bottom += vals
    ax.set_xticks(range(len(rows)), labels, fontsize=6, rotation=90)
    ax.set(ylabel="server seconds", title="server time by stage")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "stages.png", dpi=100)
    plt.close(fig)


def main(argv=None):
    """Run the grid, write results.jsonl / results.csv / PNGs / summary.md; print the summary."""
    a = parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    grid = [(p, n, d, r, k) for p in a.protocol for d in a.dim for r in a.dropout
            for n in a.clients for k in range(a.repeat)]
    run_one("secagg", 5, 16, 0.0, seed=0)  # untimed warm-up (numba JIT, imports)
    rows, stages = [], []
    with open(a.out / "results.jsonl", "w") as fj:
        for i, (p, n, d, r, k) in enumerate(tqdm(grid, desc="scaling")):
            row, st = run_one(p, n, d, r, seed=i)
            row["repeat"] = k
            rows.append(row)
            stages.append((row, st))
            fj.write(json.dumps({**row, "stages": st}) + "\n")
    with open(a.out / "results.csv", "w", newline="") as fc:
        w = csv.DictWriter(fc, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    plot(rows, stages, a.out)
    text = summarize(rows)
    (a.out / "summary.md").write_text(text + "\n")
    print(text)
    return 0 if all(math.isfinite(r["server_s"]) for r in rows) else 1
