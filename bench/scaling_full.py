"""The large SecAgg+ rounds of ``python -m bench scaling --full``: n = 1,000, 10,000 and 100,000
clients, m = 10,000 values, 10 % dropout, the parameter finder's (k, t), one group.

Each point is a whole simulated round (``simulate_round`` with inputs made lazily from a
seeded generator, one per client, and checked: the result must equal the sum of the survivors'
inputs, made again). The server runs in the point's process, the clients in ``--processes``
worker processes (``protocols.pool.ClientPool``: one per CPU by default, 0 for none), started
before the clock. Each point runs in a child process of its own, so its peak memory
(``ru_maxrss``, plus each worker's) is its own; the estimated peak is printed before the point starts, and a point whose estimate
exceeds ``--max-mem-gib`` is skipped with the reason. Progress: one line per stage of each round
(with the share of clients done on a terminal). Written to ``--out``: ``large.json`` (rows,
machine, command), ``large.md`` and ``large.png`` (download per client and round time vs n).

Run alone: ``python -m bench.scaling_full --out docs/perf/large`` (18-25 minutes on the project VM);
``python -m bench scaling --full`` runs it first, into ``<--out>/large``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info, machine_line
from protocols.pool import default_processes

#: (n, m, dropout) of the large rounds.
POINTS: list[tuple[int, int, float]] = [(1_000, 10_000, 0.1), (10_000, 10_000, 0.1),
                                         (100_000, 10_000, 0.1)]
GIB = 1 << 30
#: Whole-round time targets (seconds) of the large rounds, drawn on the plot.
TIME_TARGETS = {10_000: 30.0, 100_000: 600.0}
_SEED = 20_261_130  # simulation choices only (who drops, the inputs): never a secret
_ROW_TAG = "ROW "


def estimate_bytes(n: int, m: int, k: int) -> int:
    """Peak memory of one large round, from what the round holds when the share bundles are
    routed (its peak): a fixed ~0.4 GiB (interpreter, numba, buffers, the 64 MiB window of
    masked vectors), and per graph edge ~1.6 kB: the clients' neighbour keys and Boxes, the
    bundles as sent, as routed in one array and as the per-recipient messages, and the graph
    (6.67 GiB measured at n = 10^5, k = 46, where this says 7.3).
    """
    return int(0.4 * GIB + 40 * m + n * k * 1600)


def _config(n: int, m: int, rate: float):
    from protocols.secagg.config import SecAggConfig

    return SecAggConfig.for_secagg_plus(list(range(1, n + 1)), m, dropout=max(rate, 0.05),
                                        min_sparse_clients=0)


def _input(u: int, m: int) -> np.ndarray:
    """Client u's input: made on demand from (seed, u), so it can be made again to check."""
    return np.random.default_rng([_SEED, u]).integers(0, 1000, m, dtype=np.uint32)


def run_point(n: int, m: int, rate: float, progress: bool = True,
              processes: int = 0) -> dict[str, Any]:
    """One large round, the server in this process and the clients in ``processes`` worker
    processes (0: all in this one); its row (exactness checked, AssertionError if not). The
    workers start and load their kernels before the clock runs, as ``warm_up`` does here."""
    from protocols.pool import ClientPool
    from protocols.secagg.simulate import simulate_round, warm_up

    warm_up()
    cfg = _config(n, m, rate)
    gen = np.random.default_rng([_SEED, n])
    drop = gen.choice(cfg.client_ids, int(rate * n), replace=False).tolist()
    report = _Stages(n) if progress else None
    pool = ClientPool(processes) if processes else None
    try:
        t0 = time.perf_counter()
        res = simulate_round(cfg, lambda u: _input(u, m), {"masked_input": drop},
                             progress=report, pool=pool)
        wall = time.perf_counter() - t0
        workers_peak = pool.peak_rss() if pool is not None else 0
    finally:
        if pool is not None:
            pool.close()
    want = np.zeros(m, dtype=np.uint32)
    for u in sorted(res.included):
        want += _input(u, m)
    if not np.array_equal(res.sum, want):
        raise AssertionError(f"secagg+ sum is wrong at n={n}, m={m}")
    st = res.stats
    return {"protocol": "secagg+", "n": n, "dim": m, "dropout": rate, "k": cfg.degree,
            "t": cfg.threshold, "included": len(res.included), "exact": True, "wall_s": wall,
            "server_s": st["server_s"], "client_mean_s": st["client_mean_s"],
            "client_max_s": st["client_max_s"], "bytes_up_per_client": st["bytes_up_per_client"],
            "bytes_down_per_client": st["bytes_down_per_client"],
            "stages": st["stages"], "processes": processes,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            + workers_peak}


class _Stages:
    """Progress of one round: a line per stage closed; on a terminal, the share done too."""

    def __init__(self, n: int) -> None:
        self.n, self.t0, self.tty = n, time.perf_counter(), sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if done == total:
            print(f"  n={self.n} {stage}: {total} clients, {time.perf_counter() - self.t0:.0f} s "
                  "into the round", flush=True)
        elif self.tty:
            print(f"\r  n={self.n} {stage}: {done}/{total}", end="", file=sys.stderr, flush=True)


def _run_isolated(n: int, m: int, rate: float, processes: int) -> dict[str, Any]:
    """The point in a child process (its own peak memory); its stage lines pass through."""
    cmd = [sys.executable, "-m", "bench.scaling_full", "--one", f"{n},{m},{rate},{processes}"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        row = None
        for line in child.stdout:
            if line.startswith(_ROW_TAG):
                row = json.loads(line[len(_ROW_TAG):])
            else:
                print(line, end="", flush=True)
    if child.returncode or row is None:
        raise RuntimeError(f"the n={n} round failed (exit {child.returncode})")
    return row


def run_large(out: Path, *, max_mem_gib: float = 16.0, dry_run: bool = False,
              isolated: bool = True, points: list[tuple[int, int, float]] | None = None,
              processes: int | None = None,
              command: str = "python -m bench.scaling_full") -> list[dict[str, Any]]:
    """Every large point in order of n, with its estimate first; writes the files to ``out``."""
    rows, skipped = [], []
    for n, m, rate in points if points is not None else POINTS:
        need = estimate_bytes(n, m, _config(n, m, rate).degree)
        head = f"secagg+ n={n} dim={m} dropout={rate}: estimated peak ~{need / GIB:.1f} GiB"
        if need > max_mem_gib * GIB:
            print(f"skipping {head} > --max-mem-gib {max_mem_gib:g}", flush=True)
            skipped.append({"n": n, "dim": m, "dropout": rate, "estimate_bytes": need})
            continue
        print(("would run " if dry_run else "running ") + head, flush=True)
        if dry_run:
            continue
        procs = default_processes() if processes is None else processes
        row = _run_isolated(n, m, rate, procs) if isolated else run_point(n, m, rate, True, procs)
        row["estimate_bytes"] = need
        rows.append(row)
        print(f"  done: {row['wall_s']:.1f} s whole round, server {row['server_s']:.1f} s, peak "
              f"{row['peak_rss_bytes'] / GIB:.2f} GiB, download "
              f"{row['bytes_down_per_client']:.0f} B/client, exact sum", flush=True)
    if not dry_run and rows:
        _write(out, rows, skipped, command)
    return rows


def _write(out: Path, rows: list[dict[str, Any]], skipped: list[dict], command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    meta: dict[str, Any] = {"command": command, "machine": info, "machine_line": machine_line(info),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "skipped": skipped, "rows": rows}
    (out / "large.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "large.md").write_text(summary(meta) + "\n")
    _plot(rows, out / "large.png", meta["machine_line"])
    print(f"wrote large.json, large.md, large.png to {out.resolve()}/", flush=True)


def summary(meta: dict[str, Any]) -> str:
    """The Markdown table of the large rounds, with the download ratio to the smallest n."""
    rows = meta["rows"]
    base = rows[0]["bytes_down_per_client"]
    lines = [
        "# Large SecAgg+ rounds", "",
        f"Command: `{meta['command']}` ({meta['date']}).", "",
        f"Machine: {meta['machine_line']}.", "",
        "The server runs in the round's process and the clients in `processes` worker "
        "processes (`protocols.pool.ClientPool`, started before the clock; 0: every party in "
        "one process), exchanging only the protocol's bytes. Inputs are made when a client "
        "masks and dropped after; each result was checked against the sum of the survivors' "
        "inputs. Peak = the round's process plus each worker's peak (`ru_maxrss`; the sum bounds "
        "the real peak). Download and upload are means per client over the whole round.", "",
        "| n | m | dropout | k | t | processes | whole round s | server s | client mean ms "
        "| peak GiB | estimate GiB | down B/client | down / first | up B/client |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['dim']} | {r['dropout']} | {r['k']} | {r['t']} "
            f"| {r.get('processes', 0)} | {r['wall_s']:.1f} "
            f"| {r['server_s']:.1f} | {1000 * r['client_mean_s']:.2f} "
            f"| {r['peak_rss_bytes'] / GIB:.2f} | {r['estimate_bytes'] / GIB:.2f} "
            f"| {r['bytes_down_per_client']:.0f} | {r['bytes_down_per_client'] / base:.2f} "
            f"| {r['bytes_up_per_client']:.0f} |")
    for s in meta["skipped"]:
        lines.append(f"\nSkipped n={s['n']}: estimated {s['estimate_bytes'] / GIB:.1f} GiB.")
    return "\n".join(lines)


def _plot(rows: list[dict[str, Any]], path: Path, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.loglog(ns, [r["bytes_down_per_client"] for r in rows], "o-", label="measured")
    base = rows[0]
    bitmap = [base["bytes_down_per_client"] + (n - base["n"]) / 8 for n in ns]
    left.loglog(ns, bitmap, ":", color="gray", label="+ n/8 B (a survivor bitmap)")
    left.set(xlabel="clients n", ylabel="bytes per client", title="download per client")
    left.legend()
    right.loglog(ns, [r["wall_s"] for r in rows], "o-", label="whole round")
    right.loglog(ns, [r["server_s"] for r in rows], "s--", label="server")
    goals = [(n, s) for n, s in TIME_TARGETS.items() if n in ns]
    if goals:
        right.scatter(*zip(*goals, strict=True), marker="_", s=500, color="red",
                      label="target, whole round")
    procs = rows[-1].get("processes", 0)
    where = f"clients in {procs} worker processes" if procs else "one process"
    right.set(xlabel="clients n", ylabel="seconds", title=f"time ({where})")
    right.legend()
    fig.suptitle(f"SecAgg+, m = {rows[0]['dim']}, {rows[0]['dropout']:.0%} dropout — {machine}",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scaling_full [--out DIR] [--max-mem-gib G] [--dry-run]``."""
    p = argparse.ArgumentParser(prog="python -m bench.scaling_full", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs/perf/large"),
                   help="directory for large.json, large.md, large.png (default docs/perf/large)")
    p.add_argument("--max-mem-gib", type=float, default=16.0,
                   help="skip points whose estimated peak exceeds this (default 16)")
    p.add_argument("--dry-run", action="store_true", help="print the points and estimates only")
    p.add_argument("--processes", type=int, default=None,
                   help="worker processes for the clients (default: one per CPU; 0: the clients "
                        "run in the server's process)")
    p.add_argument("--one", help=argparse.SUPPRESS)  # n,m,rate: one point, row on stdout
    a = p.parse_args(argv)
    if a.one:
        n, m, rate, procs = a.one.split(",")
        row = run_point(int(n), int(m), float(rate), processes=int(procs))
        print(_ROW_TAG + json.dumps(row), flush=True)
        return 0
    command = "python -m bench.scaling_full " + " ".join(sys.argv[1:] if argv is None else argv)
    run_large(a.out, max_mem_gib=a.max_mem_gib, dry_run=a.dry_run, processes=a.processes,
              command=command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
