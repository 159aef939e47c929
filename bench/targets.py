"""The protocol targets of docs/performance.md, measured through ``simulate_round`` on this machine.

- SecAgg (complete graph), n = 500, m = 100,000, b = 32, 10 % dropout after share_keys:
  server <= 4 s, one client <= 0.1 s.
- SecAgg+, n = 1,000, m = 100,000, 10 % dropout, the finder's (k, t): whole round <= 15 s.
- Upload per client (the masked input) <= 1.05 * b * m / 8 bytes.

Run: ``python -m bench targets`` (``--quick`` for a scaled-down smoke run, ``--out DIR`` to
write ``DIR/targets.json``: the figures, pass/fail and the machine). The README's table of
targets is :func:`render_table` of ``docs/perf/targets.json``, and a test keeps them equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from protocols import SecAggConfig, simulate_round
from secagg.csprng import AesCtrRandom, randbelow

SERVER_LIMIT_S = 4.0
CLIENT_LIMIT_S = 0.1
ROUND_LIMIT_S = 15.0
UPLOAD_FACTOR = 1.05


def _inputs(config: SecAggConfig) -> dict[int, np.ndarray]:
    rng = AesCtrRandom(seed=b"bench-inputs".ljust(32, b"\0"))
    out = {}
    for u in config.client_ids:
        x = np.empty(config.vector_length, dtype=np.uint32)
        rng.fill(x)
        out[u] = x
    return out


def _dropouts(ids: tuple[int, ...], rate: float) -> list[int]:
    """A random ``rate`` share of the clients (CSPRNG-chosen, reproducible)."""
    rng = AesCtrRandom(seed=b"bench-dropouts".ljust(32, b"\0"))
    pool = list(ids)
    chosen = []
    for _ in range(round(rate * len(pool))):
        chosen.append(pool.pop(randbelow(rng, len(pool))))
    return sorted(chosen)


def _run(name: str, config: SecAggConfig, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"[{name}] n={config.num_clients} m={config.vector_length} "
             f"k={config.degree} t={config.threshold}: preparing inputs")
    inputs = _inputs(config)
    drops = {"masked_input": _dropouts(config.client_ids, 0.10)}
    progress(f"[{name}] running the round ({len(drops['masked_input'])} drop after share_keys)")
    start = time.perf_counter()
    result = simulate_round(config, inputs, drops)
    wall = time.perf_counter() - start
    want = np.zeros(config.vector_length, dtype=np.uint32)
    for u in result.included:
        want += inputs[u]
    stats = result.stats
    upload = stats["stages"]["masked_input"]["bytes_up_per_client"]
    out = {
        "name": name,
        "n": config.num_clients,
        "m": config.vector_length,
        "k": config.degree,
        "t": config.threshold,
        "round_s": wall,
        "server_s": stats["server_s"],
        "client_mean_s": stats["client_mean_s"],
        "client_max_s": stats["client_max_s"],
        "masked_upload_bytes": upload,
        "upload_limit_bytes": UPLOAD_FACTOR * config.modulus_bits * config.vector_length / 8,
        "bytes_up_per_client": stats["bytes_up_per_client"],
        "bytes_down_per_client": stats["bytes_down_per_client"],
        "correct": bool(np.array_equal(result.sum, want)),
        "stages": stats["stages"],
    }
    progress(f"[{name}] round {wall:.2f} s, server {out['server_s']:.2f} s, client mean "
             f"{out['client_mean_s'] * 1e3:.1f} ms (max {out['client_max_s'] * 1e3:.1f} ms), "
             f"masked upload {upload:.0f} B, correct={out['correct']}")
    return out


def _warm_up(progress: Callable[[str], None]) -> None:
    """One tiny round first, so numba's compilation is not charged to a measured party."""
    progress("warming up (numba kernels)")
    tiny = SecAggConfig(client_ids=range(1, 6), vector_length=64, threshold=3)
    simulate_round(tiny, {u: np.zeros(64, dtype=np.uint32) for u in tiny.client_ids})


def run_targets(
    progress: Callable[[str], None] = print, *, quick: bool = False
) -> dict[str, dict[str, Any]]:
    """Measure the protocol targets (docs/performance.md); returns figures and pass/fail per target."""
    _warm_up(progress)
    scale = 10 if quick else 1
    m = 100_000 // scale
    secagg = SecAggConfig(client_ids=range(1, 500 // scale + 1), vector_length=m, modulus_bits=32)
    plus = SecAggConfig.for_secagg_plus(range(1, 1000 // scale + 1), m, dropout=0.10,
                                        modulus_bits=32)
    a = _run("secagg", secagg, progress)
    b = _run("secagg+", plus, progress)
    a["pass"] = {
        "server": a["server_s"] <= SERVER_LIMIT_S,
        "client": a["client_mean_s"] <= CLIENT_LIMIT_S,
        "upload": a["masked_upload_bytes"] <= a["upload_limit_bytes"],
    }
    b["pass"] = {
        "round": b["round_s"] <= ROUND_LIMIT_S,
        "upload": b["masked_upload_bytes"] <= b["upload_limit_bytes"],
    }
    for r in (a, b):
        progress(f"[{r['name']}] targets: {r['pass']}")
    return {"secagg": a, "secagg+": b}


def _print_stages(results: dict[str, dict[str, Any]]) -> None:
    for name, r in results.items():
        print(f"\n{name}: per stage")
        for stage, f in r["stages"].items():
            print(f"  {stage:18s} server {f['server_s']:7.3f} s  client mean "
                  f"{f['client_mean_s'] * 1e3:7.2f} ms  max {f['client_max_s'] * 1e3:7.2f} ms  "
                  f"up {f['bytes_up_per_client']:10.0f} B  down {f['bytes_down_per_client']:10.0f} B")


def render_table(report: dict[str, Any]) -> str:
    """The README's Markdown table of the targets, from a ``targets.json`` report."""
    a, b, m = report["results"]["secagg"], report["results"]["secagg+"], report["machine"]
    rows = [
        "| round | measured | target |",
        "|---|---|---|",
        f"| SecAgg, {a['n']:,} clients, 10% dropout: server | {a['server_s']:.2f} s "
        f"| ≤ {SERVER_LIMIT_S:g} s (Bonawitz et al.'s Java: ~62 s) |",
        f"| SecAgg, {a['n']:,} clients: one client (mean) | {a['client_mean_s'] * 1e3:.0f} ms "
        f"| ≤ {CLIENT_LIMIT_S * 1e3:.0f} ms (Java: ~850 ms) |",
        f"| SecAgg+, {b['n']:,} clients, finder's k={b['k']}, t={b['t']}: whole round "
        f"| {b['round_s']:.1f} s | ≤ {ROUND_LIMIT_S:g} s |",
        f"| upload per client | {a['masked_upload_bytes']:,.0f} B "
        f"| ≤ {a['upload_limit_bytes']:,.0f} B |",
    ]
    machine = (f"Measured {report['date']} on {m['cpu']}, {m['usable_cores']} usable cores, "
               f"Python {m['python']}, `python -m bench targets --out docs/perf`.")
    return "\n".join(rows) + "\n\n" + machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a scaled-down smoke run (n/10, m/10)")
    parser.add_argument("--out", type=Path, help="write DIR/targets.json (figures, pass/fail, "
                        "machine); the README's table comes from docs/perf/targets.json")
    args = parser.parse_args(argv)
    results = run_targets(quick=args.quick)
    _print_stages(results)
    if args.out is not None:
        from .machine import machine_info  # noqa: PLC0415

        report = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick,
                  "machine": machine_info(), "results": results}
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "targets.json"
        path.write_text(json.dumps(report, indent=1, default=float) + "\n")
        print(f"\nwrote {path}\n\n{render_table(report)}")
    return 0 if all(all(r["pass"].values()) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
