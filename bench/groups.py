"""Grouped secure aggregation at scale: groups per second with 1, 2, ... worker processes.

``python -m bench groups --clients 1000000 --group-size 10000 --dim 10000 --workers 1,2
--dropout 0.1 --groups 4`` splits the cohort into balanced groups of at least ``--group-size``
(fl_integration.groups, from a public seed), runs each group's whole simulated SecAgg+ round in a
Ray worker (one core each) and adds the group sums. Every group's inputs are made lazily inside
its worker, one client at a time from a seed (the parent holds ids, never a million vectors),
and the worker checks the group's sum against them. ``--groups N`` runs only the first N groups;
the cost of all of them on G workers is extrapolated from the measured per-group cost and the
measured scaling. Dropouts: exactly ⌊dropout·n⌋ clients per group go silent before the masked
input (the server's costliest case: it rebuilds their keys), inside the group's budget.
Writes groups.json and groups.png to ``--out`` (default docs/perf/groups).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info, machine_line
from fl_integration.group_executors import GroupExecutor, InProcessExecutor, RayExecutor
from fl_integration.groups import round_seed, split_groups

DEFAULT_OUT = Path("docs/perf/groups")
BITS = 32


@dataclass(frozen=True)
class SyntheticGroup:
    """One group's secure round with inputs made on demand from ``seed`` (runs in a worker)."""

    index: int
    members: tuple[int, ...]
    dim: int
    dropout: float
    corrupt: float
    plus: bool
    seed: int

    def input(self, cid: int) -> np.ndarray:
        """Client ``cid``'s vector in Z_{2^32} (simulation data, not a secret)."""
        return np.random.default_rng([self.seed, 1, cid]).integers(
            0, 1 << BITS, self.dim, dtype=np.uint32)

    def __call__(self) -> dict[str, Any]:
        from fl_integration.aggregators import SecAggAggregator  # noqa: PLC0415 - in the worker
        from fl_integration.secure_round import run_secure_round  # noqa: PLC0415
        from fl_integration.simulation import STAGES, RoundPlan  # noqa: PLC0415

        n = len(self.members)
        config = SecAggAggregator(plus=self.plus, expected_dropout=self.dropout,
                                  corrupt=self.corrupt).config(self.members, self.dim, BITS)
        pick = np.random.default_rng([self.seed, 2, self.index])
        dropped = pick.choice(np.asarray(self.members), size=math.floor(self.dropout * n),
                              replace=False)
        plan = RoundPlan(round=1, sampled=self.members, stages=STAGES,
                         dropouts={"masked_input": frozenset(int(c) for c in dropped)},
                         latency={s: dict.fromkeys(self.members, 0.0) for s in STAGES},
                         deadline=None)
        start, cpu = time.perf_counter(), time.process_time()
        out = run_secure_round(config, self.input, plan)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        start = time.perf_counter()
        verified = bool(np.array_equal(out.total.astype(np.uint64), self._expected(out.included)))
        return {
            "index": self.index, "size": n, "included": len(out.included),
            "degree": config.degree, "threshold": config.threshold, "seconds": seconds,
            "cpu_s": cpu,  # all of this worker's threads: the work, whatever the machine's load
            "verify_s": time.perf_counter() - start, "server_s": out.stats["server_s"],
            "bytes_up": out.stats["bytes_up"], "bytes_down": out.stats["bytes_down"],
            "verified": verified, "pid": os.getpid(),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sum": out.total.astype(np.uint32),
        }

    def _expected(self, included: frozenset[int]) -> np.ndarray:
        total = np.zeros(self.dim, dtype=np.uint64)
        for cid in sorted(included):
            total += self.input(cid)
        return total & np.uint64((1 << BITS) - 1)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench groups", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1_000_000, help="cohort size (default 1e6)")
    p.add_argument("--group-size", type=int, default=10_000,
                   help="minimum group size; groups are balanced (default 10,000)")
    p.add_argument("--dim", type=int, default=10_000, help="vector length (default 10,000)")
    p.add_argument("--workers", default="1,2", help="comma list of worker counts (default 1,2)")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="dropout rate per group, also its planned budget (default 0.1)")
    p.add_argument("--corrupt", type=float, default=0.05, help="planned colluders (default 0.05)")
    p.add_argument("--inner", choices=("secagg+", "secagg"), default="secagg+")
    p.add_argument("--groups", type=int, default=None,
                   help="run only the first N groups (the rest are extrapolated)")
    p.add_argument("--repeat", type=int, default=1, help="runs per worker count (default 1)")
    p.add_argument("--executor", choices=("ray", "inprocess"), default="ray",
                   help="ray (default) or inprocess (one worker, for smoke tests)")
    p.add_argument("--seed", type=int, default=0, help="public seed of the split and the data")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where groups.json/png go")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _executor(kind: str, workers: int) -> GroupExecutor:
    return InProcessExecutor() if kind == "inprocess" else RayExecutor(workers)


def _run(args: argparse.Namespace, jobs: list[SyntheticGroup], workers: int) -> dict[str, Any]:
    """Run ``jobs`` on ``workers`` workers: wall time after warm-up, each group's record."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415

    pool = _executor(args.executor, workers)
    try:
        start = time.perf_counter()
        pool.warm_up()
        startup = time.perf_counter() - start
        total = np.zeros(args.dim, dtype=np.uint64)
        records = []
        start = time.perf_counter()
        bar = tqdm(total=len(jobs), desc=f"{workers} worker(s)", unit="group", file=sys.stderr,
                   disable=args.no_progress)
        for rec in pool.map_unordered(jobs):
            total = (total + rec.pop("sum")) & np.uint64((1 << BITS) - 1)
            records.append(rec)
            bar.update(1)
        bar.close()
        wall = time.perf_counter() - start
    finally:
        pool.close()
    seconds = [r["seconds"] + r["verify_s"] for r in records]
    return {"workers": workers, "groups": len(jobs), "wall_s": wall, "startup_s": startup,
            "groups_per_s": len(jobs) / wall, "group_s_median": statistics.median(seconds),
            "round_s_median": statistics.median(r["seconds"] for r in records),
            "cpu_s_median": statistics.median(r["cpu_s"] for r in records),
            # CPU the workers got over the run, per worker: 1.0 means each had a core to itself
            "core_share": sum(r["cpu_s"] for r in records) / (wall * workers),
            "verified": all(r["verified"] for r in records),
            "total_checksum": int(total.sum()), "worker_pids": sorted({r["pid"] for r in records}),
            "records": sorted(records, key=lambda r: r["index"])}


def _extrapolate(runs: list[dict[str, Any]], total_groups: int) -> dict[str, Any]:
    """Cost of all ``total_groups`` on G workers: ideal (whole groups of the measured per-group
    wall time), with the measured efficiency of the widest run kept constant, and on G
    dedicated cores (whole groups of the per-group CPU time, which the machine's load does
    not inflate)."""
    by_w: dict[int, list[float]] = {}
    for r in runs:
        by_w.setdefault(r["workers"], []).append(r["groups_per_s"])
    rate = {w: statistics.median(v) for w, v in by_w.items()}
    per_group = statistics.median(rec["seconds"] + rec["verify_s"]
                                  for r in runs if r["workers"] == min(rate) for rec in r["records"])
    cpu = statistics.median(rec.get("cpu_s", math.nan) for r in runs for rec in r["records"])
    widest = max(rate)
    base = rate[min(rate)] / min(rate)  # groups/s of one worker
    efficiency = rate[widest] / (widest * base) if widest > min(rate) else 1.0
    counts = sorted({1, 2, 4, 8, 16, 32, 64, total_groups} | set(rate))
    rows = [{"workers": g, "ideal_s": math.ceil(total_groups / g) * per_group,
             "at_measured_efficiency_s": total_groups / (base * g * (1.0 if g == 1 else efficiency)),
             "dedicated_cores_s": math.ceil(total_groups / g) * cpu}
            for g in counts if g <= total_groups]
    return {"total_groups": total_groups, "per_group_s": per_group, "per_group_cpu_s": cpu,
            "rate": rate,
            "efficiency": efficiency, "widest": widest, "rows": rows}


def _plot(result: dict[str, Any], path: Path) -> None:
    from bench.scaling_plots import _plt  # noqa: PLC0415 - matplotlib only when plotting

    plt = _plt()
    ext = result["extrapolation"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ws = sorted(ext["rate"])
    left.plot(ws, [ext["rate"][w] for w in ws], "o-", label="measured")
    base = ext["rate"][ws[0]] / ws[0]
    left.plot(ws, [base * w for w in ws], "--", label="linear from 1 worker")
    left.set(xlabel="worker processes (one core each)", ylabel="groups / second",
             title=f"groups of {result['config']['group_size']:,} x {result['config']['dim']:,}")
    left.set_xticks(ws)
    left.set_ylim(bottom=0)
    left.legend()
    rows = ext["rows"]
    g = [r["workers"] for r in rows]
    right.loglog(g, [r["ideal_s"] / 3600 for r in rows], "o--", label="ideal (whole groups)")
    right.loglog(g, [r["at_measured_efficiency_s"] / 3600 for r in rows], "s-",
                 label=f"at measured efficiency {ext['efficiency']:.2f}")
    right.loglog(g, [r["dedicated_cores_s"] / 3600 for r in rows], "^:",
                 label="G dedicated cores (CPU s per group)")
    right.set(xlabel="workers G", ylabel="hours",
              title=f"all {ext['total_groups']} groups ({result['config']['clients']:,} clients)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _report(result: dict[str, Any]) -> str:
    ext, cfg = result["extrapolation"], result["config"]
    lines = [f"{cfg['clients']:,} clients in {ext['total_groups']} groups of "
             f"{min(cfg['group_sizes'])}..{max(cfg['group_sizes'])}, dim {cfg['dim']:,}, "
             f"{cfg['inner']}, dropout {cfg['dropout']} (ran {cfg['groups_run']} groups)",
             f"machine: {machine_line(result['machine'])}"]
    for r in result["runs"]:
        lines.append(f"  {r['workers']} worker(s): {r['groups']} groups in {r['wall_s']:.1f} s = "
                     f"{r['groups_per_s']:.4f} groups/s (median group {r['group_s_median']:.1f} s,"
                     f" {r['cpu_s_median']:.1f} CPU s; each worker got {r['core_share']:.0%} of a"
                     f" core; start-up {r['startup_s']:.1f} s; sums verified: {r['verified']})")
    lines.append(f"per-group cost {ext['per_group_s']:.1f} s wall, {ext['per_group_cpu_s']:.1f} s "
                 f"CPU; scaling efficiency at "
                 f"{ext['widest']} workers {ext['efficiency']:.2f}")
    for row in ext["rows"]:
        lines.append(f"  G = {row['workers']:>4}: ideal {_human(row['ideal_s']):>9}, at "
                     f"measured efficiency {_human(row['at_measured_efficiency_s']):>9}, on "
                     f"dedicated cores {_human(row['dedicated_cores_s']):>9}")
    return "\n".join(lines)


def _human(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    """Split, run the chosen groups on each worker count, extrapolate, write JSON and a plot."""
    parser = _parser()
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.executor == "inprocess" and workers != [1]:
        parser.error("--executor inprocess runs one worker: use --workers 1")
    if not workers or min(workers) < 1 or args.repeat < 1:
        parser.error("--workers needs counts >= 1 and --repeat >= 1")
    start = time.perf_counter()
    groups = split_groups(range(1, args.clients + 1), min_group_size=args.group_size,
                          seed=round_seed(args.seed.to_bytes(8, "big"), 1))
    split_s = time.perf_counter() - start
    chosen = groups[: args.groups] if args.groups else groups
    jobs = [SyntheticGroup(i, g, args.dim, args.dropout, args.corrupt, args.inner == "secagg+",
                           args.seed) for i, g in enumerate(chosen)]
    runs = [_run(args, jobs, w) for _ in range(args.repeat) for w in workers]
    result = {
        "command": "python -m bench groups " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "config": {"clients": args.clients, "group_size": args.group_size, "dim": args.dim,
                   "dropout": args.dropout, "corrupt": args.corrupt, "inner": args.inner,
                   "executor": args.executor, "groups_run": len(jobs),
                   "group_sizes": sorted({len(g) for g in groups}), "split_s": split_s},
        "runs": runs,
        "extrapolation": _extrapolate(runs, len(groups)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "groups.json").write_text(json.dumps(result, indent=1, default=_jsonable) + "\n")
    _plot(result, args.out / "groups.png")
    print(_report(result))
    return 0 if all(r["verified"] for r in runs) else 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
