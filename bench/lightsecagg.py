"""LightSecAgg beside SecAgg and SecAgg+ at the issue's point: N = 200, m = 100,000.

For each dropout rate (10, 30, 50 % by default) one round of each protocol runs in this process
through its own ``simulate_round``, with the same clients dropping at the same stage: after the
key/mask sharing, before their masked input — the case that costs SecAgg the most (it must
rebuild every dropped client's key and regenerate its pairwise masks) and that LightSecAgg's
aggregate-mask decoding is meant to make cheap. Every sum is checked against the inputs.

- LightSecAgg: (U, T) from :func:`protocols.lightsecagg.find_parameters` at the dropout rate and
  ``--corrupt`` (T = max(⌈γN⌉, 1), U = N − D − 1), and with ``--half-t`` also T = ⌊N/2⌋ where
  U > ⌊N/2⌋ (not at 50 %: there U <= 99). Inputs are ``input_bits``-bit integers (23 at N = 200:
  the widest whose sum over N cannot wrap mod 2^31 − 1).
- SecAgg (complete graph): t = min(⌊2N/3⌋ + 1, N − D), D = the dropouts, 32-bit values.
- SecAgg+: ``SecAggConfig.for_secagg_plus`` at the same dropout rate and ``--corrupt``.

Figures come from each round's stats: ``server_s`` (all server work), ``client_mean_s`` (one
client's whole round, mean), bytes up and down per client (means), and for LightSecAgg the
sealed coded sub-masks apart (its price), and the upload without them against a raw vector of
m 32-bit values. Wall seconds: the machine is shared, so run it when it is quiet, and compare
rows of one run rather than runs. ``python -m bench.lightsecagg`` (``--quick``: N = 30,
m = 5,000, a smoke run).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.machine import machine_info
from protocols import SecAggConfig, simulate_round
from protocols import warm_up as secagg_warm_up
from protocols.lightsecagg import LightSecAggConfig
from protocols.lightsecagg import simulate_round as lsa_simulate_round
from protocols.lightsecagg import warm_up as lsa_warm_up
from secagg.csprng import AesCtrRandom

SESSION_BYTES = 32


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.lightsecagg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="clients (default 200)")
    p.add_argument("--m", type=int, default=100_000, help="vector length (default 100,000)")
    p.add_argument("--dropouts", default="0.1,0.3,0.5", help="comma list of dropout rates")
    p.add_argument("--corrupt", type=float, default=0.05,
                   help="collusion rate for LightSecAgg's T and SecAgg+'s (k, t) (default 0.05)")
    p.add_argument("--half-t", action="store_true",
                   help="also run LightSecAgg with T = ⌊N/2⌋ where U > ⌊N/2⌋")
    p.add_argument("--only", default="lightsecagg,secagg,secagg+",
                   help="comma list of protocols to run (default all three)")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds per cell; seconds are the median (default 1)")
    p.add_argument("--stages", action="store_true",
                   help="also print the server's seconds per stage (medians)")
    p.add_argument("--quick", action="store_true", help="N = 30, m = 5,000: a smoke run")
    return p


def _inputs(ids: tuple[int, ...], m: int, bits: int, dtype: type) -> dict[int, np.ndarray]:
    """Uniform ``bits``-bit inputs from a seeded CSPRNG (the same for every protocol)."""
    rng = AesCtrRandom(b"lightsecagg-bench".ljust(32, b"\0"))
    out = {}
    for u in ids:
        raw = np.empty(m, dtype=np.uint32)
        rng.fill(raw)
        out[u] = (raw & np.uint32((1 << bits) - 1)).astype(dtype)
    return out


def _dropped(ids: tuple[int, ...], count: int) -> list[int]:
    """``count`` clients spread evenly over the id list."""
    if count <= 0:
        return []
    step = len(ids) / count
    return sorted({ids[int(i * step)] for i in range(count)})


def _check(result: Any, inputs: dict[int, np.ndarray], modulus: int | None) -> None:
    want = np.zeros(len(next(iter(inputs.values()))), dtype=np.uint64)
    for u in result.included:
        want += inputs[u].astype(np.uint64)
    if modulus is not None:
        want &= np.uint64(modulus - 1)
    if not np.array_equal(result.sum.astype(np.uint64), want):
        raise AssertionError("a protocol returned a wrong sum")


def _row(name: str, params: str, rate: float, results: list[Any], m: int) -> dict[str, Any]:
    s = results[0].stats
    server = float(np.median([r.stats["server_s"] for r in results]))
    client = float(np.median([r.stats["client_mean_s"] for r in results]))
    sub = s.get("submask_bytes_up_per_client", 0.0)
    survivor_up = sum(stage["bytes_up_per_client"] for stage in s["stages"].values())
    masked = s["stages"]["masked_input"]["bytes_up_per_client"]
    return {
        "protocol": name, "params": params, "dropout": rate, "server_s": server,
        "client_s": client, "up_mb": survivor_up / 1e6,
        "down_mb": sum(stage["bytes_down_per_client"] for stage in s["stages"].values()) / 1e6,
        "submask_mb": sub / 1e6, "masked_vs_raw": masked / (4 * m),
        "rest_vs_raw": (survivor_up - sub) / (4 * m),
        "stages": {name: float(np.median([r.stats["stages"][name]["server_s"] for r in results]))
                   for name in s["stages"]},
    }


def _lsa_rounds(args: argparse.Namespace, ids: tuple[int, ...], rate: float,
                drops: list[int]) -> list[tuple[str, LightSecAggConfig]]:
    n, m = len(ids), args.m
    base = LightSecAggConfig.for_rates(ids, m, dropout=rate, corrupt=args.corrupt)
    out = [(f"U={base.U} T={base.T}", base)]
    if args.half_t and base.U > n // 2:
        half = LightSecAggConfig(client_ids=ids, vector_length=m, recovery_threshold=base.U,
                                 privacy_threshold=n // 2, max_dropouts=base.max_dropouts)
        out.append((f"U={half.U} T={half.T}", half))
    return out


def _secagg_config(ids: tuple[int, ...], m: int, d: int) -> SecAggConfig:
    t = min((2 * len(ids)) // 3 + 1, len(ids) - d)
    return SecAggConfig(client_ids=ids, vector_length=m, threshold=t, max_dropouts=d)


def _run_rate(args: argparse.Namespace, ids: tuple[int, ...], rate: float,
              inputs: dict[str, dict[int, np.ndarray]], wanted: set[str]) -> list[dict[str, Any]]:
    n, m = len(ids), args.m
    d = math.ceil(rate * n - 1e-9)
    drops = _dropped(ids, d)
    rows = []
    jobs: list[tuple[str, str, Callable[[], Any], dict[int, np.ndarray], int | None]] = []
    if "lightsecagg" in wanted:
        for params, cfg in _lsa_rounds(args, ids, rate, drops):
            lsa_in = inputs["lsa"]
            jobs.append(("LightSecAgg", params + f" b={cfg.input_bits}",
                         lambda cfg=cfg, x=lsa_in: lsa_simulate_round(
                             cfg, x, {"masked_input": drops}), lsa_in, None))
    if "secagg" in wanted:
        cfg_s = _secagg_config(ids, m, d)
        jobs.append(("SecAgg", f"t={cfg_s.t}",
                     lambda: simulate_round(cfg_s, inputs["secagg"], {"masked_input": drops}),
                     inputs["secagg"], 1 << 32))
    if "secagg+" in wanted:
        cfg_p = SecAggConfig.for_secagg_plus(ids, m, dropout=rate, corrupt=args.corrupt)
        jobs.append(("SecAgg+", f"k={cfg_p.degree} t={cfg_p.t}",
                     lambda: simulate_round(cfg_p, inputs["secagg"], {"masked_input": drops}),
                     inputs["secagg"], 1 << 32))
    for name, params, run, x, modulus in jobs:
        results = []
        for _ in range(max(1, args.repeat)):
            results.append(run())
            _check(results[-1], x, modulus)
        rows.append(_row(name, params, rate, results, m))
        print(f"  done: {name} {params} at {rate:.0%} dropout "
              f"(server {rows[-1]['server_s']:.2f} s)", file=sys.stderr, flush=True)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'protocol':<12} {'params':<24} {'drop':>5} {'server s':>9} {'client s':>9} "
            f"{'up MB':>7} {'sub-masks MB':>13} {'up-sub / raw':>13} {'masked / raw':>13} "
            f"{'down MB':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['protocol']:<12} {r['params']:<24} {r['dropout']:>5.0%} {r['server_s']:>9.2f} "
            f"{r['client_s']:>9.3f} {r['up_mb']:>7.2f} {r['submask_mb']:>13.2f} "
            f"{r['rest_vs_raw']:>13.3f} {r['masked_vs_raw']:>13.3f} {r['down_mb']:>8.2f}"
        )
    notes = ("up/down MB: a surviving client's whole round (per-stage means summed); "
             "sub-masks MB: LightSecAgg's sealed coded sub-masks, inside up MB; "
             "raw = m 32-bit values (4m bytes); client s: mean over all clients, dropouts "
             "included")
    return "\n".join([*lines, notes])


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table (and the machine it ran on)."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.n, args.m = 30, 5_000
    rates = [float(x) for x in args.dropouts.split(",") if x.strip()]
    wanted = {x.strip() for x in args.only.split(",")}
    ids = tuple(range(1, args.n + 1))
    bits = LightSecAggConfig.for_rates(ids, 1, dropout=0.0, corrupt=args.corrupt).input_bits
    inputs = {"lsa": _inputs(ids, args.m, bits, np.uint64),
              "secagg": _inputs(ids, args.m, bits, np.uint32)}
    lsa_warm_up()
    secagg_warm_up(32)
    info = machine_info()
    print(f"N = {args.n}, m = {args.m:,}; dropouts at the masked-input stage; "
          f"inputs {bits}-bit; corrupt rate {args.corrupt}")
    print(f"machine: {info.get('cpu')}, {info.get('usable_cores')} usable cores "
          f"(shared VM: wall seconds, median of {max(1, args.repeat)})")
    rows: list[dict[str, Any]] = []
    for rate in rates:
        rows += _run_rate(args, ids, rate, inputs, wanted)
    print(_table(rows))
    if args.stages:
        print("\nserver seconds per stage (median):")
        for r in rows:
            parts = ", ".join(f"{name} {sec:.3f}" for name, sec in r["stages"].items())
            print(f"  {r['protocol']:<12} {r['params']:<24} {r['dropout']:>4.0%}: {parts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
