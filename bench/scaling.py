"""``python -m bench scaling``: round cost vs number of clients, per protocol, role and stage.

Protocols: ``secagg`` (complete graph) and ``secagg+`` (the parameter finder's k and t) by
default; ``lightsecagg`` (its parameter helper's U and T at the point's dropout rate) beside them
when asked for, e.g. ``--protocol secagg,secagg+,lightsecagg``. ``paillier`` (packed, 3072-bit key by default) runs only when asked for, e.g.
``--protocol secagg,secagg+,paillier``, ``--protocol all`` or ``--protocol paillier``: it takes
most of a run's time (see :mod:`bench.scaling_paillier` for its roles and for the sampling of
encrypting clients that keeps it to minutes). Dropouts are a simulation choice: a seeded random
subset of ``rate * n`` clients goes silent after ``share_keys`` (before sending
``masked_input``), the expensive case for the SecAgg server; Paillier dropouts never send.

Beside each round: mask expansion against the raw AES-128-CTR keystream of the same bytes, and
one client's Shamir split and one secret's reconstruction at the round's k and t
(:mod:`bench.primitives`). Default grid: n = 50, 100, 200, 10^4 values, dropout 0 / 0.1 / 0.3
(Paillier: 0.1 only). ``--full``: n = 50 .. 2,000 and 10^4..10^6 values (Paillier stays at
10^4 values unless ``--dim`` says otherwise), hours on 2 cores; pick a subset with
``--protocol``/``--clients``/``--dim``. ``--full`` first runs the large SecAgg+ rounds of
:mod:`bench.scaling_full` (n = 1,000 .. 100,000, 10^4 values, 10 % dropout; 18-25 minutes here),
each with its memory estimate, into ``<--out>/large``. A point whose estimated peak memory exceeds
``--max-mem-gib`` (default 16) is skipped with the reason printed and written to the summary;
``--dry-run`` lists the points with their estimates and runs nothing.

Progress: a bar naming the current point when stderr is a terminal, one line per finished
point on stdout otherwise; the last line says where the files went.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import textwrap
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench import primitives, scaling_full
from bench.machine import machine_info, machine_line
from bench.scaling_paillier import estimate_bytes as paillier_bytes
from bench.scaling_paillier import run_paillier
from bench.scaling_plots import plot_bytes, plot_stages, plot_time
from bench.scaling_report import summarize
from protocols import lightsecagg
from protocols.paillier import PaillierKeyPair
from protocols.paillier.config import MIN_TEST_KEY_BITS
from protocols.secagg.config import SecAggConfig
from protocols.secagg.simulate import simulate_round
from secagg.masking import default_workers

PROTOCOLS = ("secagg", "secagg+", "lightsecagg", "paillier")
DEFAULT_PROTOCOLS = ("secagg", "secagg+")
"""Paillier is left out by default: it is most of a run's time and the slowest to change."""
BONAWITZ = {
    "label": "Bonawitz et al. 2017: another implementation (Java), other hardware, 1e5 values",
    # (n, client s, server s) at 100K values, 10% dropout
    "points": [(500, 0.85, 62.0), (1000, None, 180.0)],
}
FIELDS = ["protocol", "n", "dim", "dropout", "repeat", "k", "t", "included", "server_s",
          "keyholder_s", "client_mean_s", "client_max_s", "bytes_up_per_client",
          "bytes_down_per_client", "mask_seeds", "mask_s", "aes_s", "mask_to_aes_ratio",
          "aes_gb_per_s", "shamir_points", "shamir_split_s", "shamir_reconstruct_s",
          "paillier_key_bits", "paillier_encrypted_clients", "paillier_ciphertexts",
          "paillier_offline_s", "paillier_online_s", "wall_s"]
_SIM_FIGURES = ("server_s", "client_mean_s", "client_max_s", "bytes_up_per_client",
                "bytes_down_per_client")
GIB = 1 << 30
FULL_CLIENTS = [50, 100, 200, 500, 1000, 2000]


def _list(kind, text):
    try:
        vals = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma list of {kind.__name__}: {text!r}") from exc
    if not vals:
        raise argparse.ArgumentTypeError("empty list")
    return vals


def _count(text):
    return [int(float(v)) if "e" in v.lower() else int(v) for v in _list(str, text)]


def _protocols(text):
    return list(PROTOCOLS) if text.strip() == "all" else _list(str, text)


def _plain(doc: str) -> str:
    """The docstring as --help shows it: no reST markup, paragraphs refilled."""
    text = re.sub(r":\w+:`([^`]+)`", r"\1", doc).replace("``", "")
    return "\n\n".join(textwrap.fill(" ".join(par.split()), 92) for par in text.split("\n\n"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench scaling", description=_plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", type=_protocols, default=list(DEFAULT_PROTOCOLS),
                   help="comma list of " + ", ".join(PROTOCOLS) + ", or all (default: "
                   + ",".join(DEFAULT_PROTOCOLS) + "; Paillier takes most of a run, include it "
                   "with --protocol secagg,secagg+,paillier)")
    p.add_argument("--clients", type=lambda s: _list(int, s), default=None,
                   help="comma list of n (default 50,100,200; --full 50..2000)")
    p.add_argument("--dim", type=_count, default=None,
                   help="comma list of vector lengths, 1e4 style allowed (default 1e4)")
    p.add_argument("--dropout", type=lambda s: _list(float, s), default=None,
                   help="comma list of rates in [0, 0.5) (default 0,0.1,0.3; Paillier 0.1)")
    p.add_argument("--out", type=Path, default=Path("bench-out/scaling"),
                   help="directory for the CSV/JSONL rows, run.json, summary.md and the PNGs "
                   "(created; default bench-out/scaling)")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of every point, averaged in the plots (default 1)")
    p.add_argument("--full", action="store_true",
                   help="first the large SecAgg+ rounds (n = 1e3..1e5, 1e4 values, into "
                   "OUT/large), then clients 50..2000, dims 1e4..1e6 (Paillier 1e4); hours")
    p.add_argument("--dry-run", action="store_true",
                   help="print the points (with estimated memory) and the skipped ones; run none")
    p.add_argument("--paillier-key-bits", type=int, default=3072,
                   help=f"Paillier modulus bits (>= 2048; {MIN_TEST_KEY_BITS}.. for tests only)")
    p.add_argument("--paillier-sample", type=int, default=2,
                   help="Paillier clients that really encrypt per point; the other senders "
                   "reuse their ciphertexts under their own ids (default 2)")
    p.add_argument("--max-mem-gib", type=float, default=16.0,
                   help="skip points whose estimated peak memory exceeds this (default 16)")
    return p


def parse_args(argv):
    """Parse and validate the flags; exits 2 with a message on bad input."""
    p = _parser()
    a = p.parse_args(argv)
    bad = [x for x in a.protocol if x not in PROTOCOLS]
    if bad:
        p.error(f"unknown protocol(s) {bad}; choose from {list(PROTOCOLS)}")
    if a.clients is not None and min(a.clients) < 3:
        p.error("--clients: every count must be >= 3")
    if a.dim is not None and min(a.dim) < 1:
        p.error("--dim: every length must be >= 1")
    if a.dropout is not None and not all(0.0 <= d < 0.5 for d in a.dropout):
        p.error("--dropout: rates must be in [0, 0.5)")
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    if a.paillier_sample < 1:
        p.error("--paillier-sample must be >= 1")
    if not MIN_TEST_KEY_BITS <= a.paillier_key_bits or a.paillier_key_bits % 16:
        p.error(f"--paillier-key-bits: a multiple of 16, >= {MIN_TEST_KEY_BITS}")
    if a.max_mem_gib <= 0:
        p.error("--max-mem-gib must be > 0")
    if "lightsecagg" in a.protocol:
        _check_lightsecagg(p, a)
    return a


def grid_for(a, protocol: str) -> list[tuple[int, int, float]]:
    """(n, dim, dropout) points of one protocol: the flags, else that protocol's defaults."""
    clients = a.clients or (FULL_CLIENTS if a.full else [50, 100, 200])
    full_dims = [10**4] if protocol == "paillier" else [10**4, 10**5, 10**6]
    dims = a.dim or (full_dims if a.full else [10**4])
    drops = a.dropout or ([0.1] if protocol == "paillier" else [0.0, 0.1, 0.3])
    return [(n, d, r) for d in dims for r in drops for n in clients]


def _check_lightsecagg(p, a) -> None:
    """Every (n, dropout) of the grid must have a LightSecAgg config (its helper needs
    U = n - D - 1 > T); say which point does not, before anything runs."""
    for n, _, rate in grid_for(a, "lightsecagg"):
        try:
            _config("lightsecagg", n, 1, rate)
        except ValueError as exc:
            p.error(f"lightsecagg at n={n}, dropout {rate}: {exc}")


def _config(protocol, n, dim, rate):
    ids = list(range(1, n + 1))
    if protocol == "lightsecagg":  # budgets at least the point's dropouts, as SecAgg+'s
        return lightsecagg.LightSecAggConfig.for_rates(ids, dim, dropout=max(rate, 0.05))
    if protocol == "secagg+":  # the sparse graph even below the finder's complete-graph cutoff
        return SecAggConfig.for_secagg_plus(ids, dim, dropout=max(rate, 0.05), min_sparse_clients=0)
    return SecAggConfig(client_ids=ids, threshold=n // 2 + 1, vector_length=dim, modulus_bits=32)


def estimate_bytes(protocol: str, n: int, dim: int, a) -> int:
    """Rough peak memory of one point, on the safe side of what ``ru_maxrss`` showed here.

    SecAgg/SecAgg+ (``simulate_round``): the inputs and the masked inputs in flight (two vectors
    per client), a few dozen vector-sized buffers, ~2 kB per graph edge (keys, sealed shares).
    """
    if protocol == "paillier":
        return 200 * (1 << 20) + paillier_bytes(n, dim, a.paillier_key_bits, a.paillier_sample)
    if protocol == "lightsecagg":  # every client holds, and the server relays, n coded sub-masks
        cfg = _config(protocol, n, dim, 0.1)
        return 200 * (1 << 20) + (2 * n + 40) * dim * 4 + 3 * n * n * cfg.piece_length * 4
    cfg = _config(protocol, n, dim, 0.1)
    return 200 * (1 << 20) + (2 * n + 40) * dim * 4 + n * cfg.degree * 2500


def run_one(protocol, n, dim, rate, seed):
    """One SecAgg/SecAgg+ (or LightSecAgg) round; returns (flat row, per-stage stats)."""
    if protocol == "lightsecagg":
        return _run_lightsecagg(n, dim, rate, seed)
    gen = np.random.default_rng(seed)  # simulation choice only, not a secret
    cfg = _config(protocol, n, dim, rate)
    dtype = np.uint32 if cfg.modulus_bits <= 32 else np.uint64
    inputs = {u: gen.integers(0, 1000, dim).astype(dtype) for u in cfg.client_ids}
    drop = gen.choice(cfg.client_ids, int(rate * n), replace=False).tolist()
    res = simulate_round(cfg, inputs, {"masked_input": drop})
    want = np.zeros(dim, dtype=dtype)
    for u in res.included:
        want += inputs[u]
    if not np.array_equal(res.sum, want):
        raise AssertionError(f"{protocol} sum is wrong at n={n}, dim={dim}")
    row = {"protocol": protocol, "n": n, "dim": dim, "dropout": rate, "k": cfg.degree,
           "t": cfg.threshold, "included": len(res.included)}
    row.update({k: res.stats[k] for k in _SIM_FIGURES})
    return row, res.stats.get("stages", {})


def _run_lightsecagg(n, dim, rate, seed):
    """One LightSecAgg round, its exact sum checked. In the row, k = n - 1 (every client
    deals a coded sub-mask to every other) and t = U (the replies that decode the mask sum);
    it has no pairwise masks or Shamir shares, so no primitives beside it."""
    gen = np.random.default_rng(seed)  # simulation choice only, not a secret
    cfg = _config("lightsecagg", n, dim, rate)
    inputs = {u: gen.integers(0, 1000, dim).astype(np.uint32) for u in cfg.client_ids}
    drop = gen.choice(cfg.client_ids, int(rate * n), replace=False).tolist()
    res = lightsecagg.simulate_round(cfg, inputs, {"masked_input": drop})
    want = sum((inputs[u].astype(np.uint64) for u in res.included), np.zeros(dim, np.uint64))
    if not np.array_equal(res.sum, want):
        raise AssertionError(f"lightsecagg sum is wrong at n={n}, dim={dim}")
    row = {"protocol": "lightsecagg", "n": n, "dim": dim, "dropout": rate, "k": n - 1,
           "t": cfg.U, "included": len(res.included)}
    row.update({k: res.stats[k] for k in _SIM_FIGURES})
    return row, res.stats.get("stages", {})


def _primitives(cache: dict, row: dict) -> dict:
    """Mask/AES ratio and Shamir costs at this round's (k, t, dim), measured once per triple."""
    key = (row["k"], row["t"], row["dim"])
    if key not in cache:
        cache[key] = {**primitives.mask_vs_aes(row["k"] + 1, row["dim"]),
                      **primitives.shamir_costs(row["k"] + 1, row["t"])}
    return cache[key]


def _keypair(a, protocols):
    if "paillier" not in protocols:
        return None, None
    if a.paillier_key_bits < 2048:
        warnings.warn(f"{a.paillier_key_bits}-bit Paillier keys can be factored by anyone: tests "
                      "only, the timings say nothing about a real deployment", stacklevel=2)
    t0 = time.perf_counter()
    keypair = PaillierKeyPair.generate(a.paillier_key_bits)
    return keypair, time.perf_counter() - t0


def _warm_up(keypair):
    """Untimed: numba JIT, imports, first-call caches."""
    run_one("secagg", 5, 16, 0.0, seed=0)
    lightsecagg.warm_up()
    if keypair is not None:
        run_paillier(3, 16, 0.0, 0, keypair, 1)


def plan(a):
    """The points to run and the ones skipped for memory, with the reason."""
    todo, skipped = [], []
    for p in a.protocol:
        for n, d, r in grid_for(a, p):
            need = estimate_bytes(p, n, d, a)
            if need > a.max_mem_gib * GIB:
                skipped.append({"protocol": p, "n": n, "dim": d, "dropout": r, "reason":
                                f"needs ~{need / GIB:.1f} GiB > --max-mem-gib {a.max_mem_gib:g}"})
            else:
                todo.extend((p, n, d, r, k) for k in range(a.repeat))
    return todo, skipped


def _run_point(p, n, d, r, seed, a, keypair, cache):
    """One point; ``wall_s`` is the round's own wall time (primitives measured after it)."""
    t0 = time.perf_counter()
    if p == "paillier":
        row, st = run_paillier(n, d, r, seed, keypair, a.paillier_sample)
        row["wall_s"] = time.perf_counter() - t0
    else:
        row, st = run_one(p, n, d, r, seed)
        row["wall_s"] = time.perf_counter() - t0
        if p != "lightsecagg":
            row.update(_primitives(cache, row))
    return row, st


def _label(p, n, d, r, k, repeats) -> str:
    return f"{p} n={n} dim={d} dropout={r}" + (f" repeat={k}" if repeats > 1 else "")


class _Progress:
    """Per point: a tqdm bar naming the current point when stderr is a terminal; otherwise one
    finished line per point on stdout (no carriage returns interleaving with other output)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.bar = total, 0, None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm comes with the demo extra; lines are enough without it
                return
            self.bar = tqdm(total=total, desc="scaling", unit="point", file=sys.stderr)

    def start(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label)

    def finish(self, label: str, seconds: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        else:
            print(f"[{self.done}/{self.total}] {label}: {seconds:.3g} s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_grid(todo, a, keypair):
    """Every planned point in order, with progress; returns rows and (row, stages) pairs."""
    rows, stages, cache = [], [], {}
    progress = _Progress(len(todo))
    try:
        for i, (p, n, d, r, k) in enumerate(todo):
            label = _label(p, n, d, r, k, a.repeat)
            progress.start(label)
            t0 = time.perf_counter()
            row, st = _run_point(p, n, d, r, i + 1, a, keypair, cache)
            progress.finish(label, time.perf_counter() - t0)
            row["repeat"] = k
            rows.append(row)
            stages.append((row, st))
    finally:
        progress.close()
    return rows, stages


def _write(out: Path, rows, stages) -> list[str]:
    with open(out / "results.jsonl", "w") as fj:
        for row, (_, st) in zip(rows, stages, strict=True):
            fj.write(json.dumps({**row, "stages": st}) + "\n")
    with open(out / "results.csv", "w", newline="") as fc:
        w = csv.DictWriter(fc, fieldnames=FIELDS, restval="", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return ["results.jsonl", "results.csv"]


def _print_plan(a, todo, skipped) -> None:
    for s in skipped:
        print(f"skipping {s['protocol']} n={s['n']} dim={s['dim']} dropout={s['dropout']}: "
              f"{s['reason']}")
    if a.dry_run:
        for p, n, d, r, k in todo:
            print(f"would run {p} n={n} dim={d} dropout={r} repeat={k} "
                  f"(~{estimate_bytes(p, n, d, a) / GIB:.2f} GiB)")


def main(argv=None):
    """Run the grid, write results.jsonl / results.csv / PNGs / summary.md; print the summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    start = time.perf_counter()
    info = machine_info()
    print("machine:", machine_line(info))
    if a.full:  # the large rounds first: the points the --full run exists for
        scaling_full.run_large(a.out / "large", max_mem_gib=a.max_mem_gib, dry_run=a.dry_run,
                               command="python -m bench scaling " + " ".join(argv))
    todo, skipped = plan(a)
    _print_plan(a, todo, skipped)
    if a.dry_run:
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(todo)} points; writing to {a.out.resolve()}", flush=True)
    keypair, keygen_s = _keypair(a, {p for p, *_ in todo})
    _warm_up(keypair)
    rows, stages = run_grid(todo, a, keypair)
    written = _write(a.out, rows, stages)
    if rows:
        plot_time(rows, a.out, BONAWITZ, machine_line(info))
        plot_bytes(rows, a.out)
        plot_stages(rows, stages, a.out)
        written += ["time_vs_n.png", "bytes_vs_n.png", "stages.png"]
    meta = {"command": "python -m bench scaling " + " ".join(argv), "machine": info,
            "machine_line": machine_line(info), "skipped": skipped, "keygen_s": keygen_s,
            "paillier_key_bits": a.paillier_key_bits if keypair else None,
            "paillier_sample": a.paillier_sample, "reference": BONAWITZ,
            "mask_workers": default_workers(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_s": time.perf_counter() - start}
    (a.out / "run.json").write_text(json.dumps(meta, indent=1) + "\n")
    text = summarize(rows, meta)
    (a.out / "summary.md").write_text(text + "\n")
    print(text)
    written += ["run.json", "summary.md"]
    print(f"\nwrote {len(written)} files to {a.out.resolve()}/: {', '.join(sorted(written))}")
    return 0 if rows and all(math.isfinite(r["server_s"]) for r in rows) else 1
