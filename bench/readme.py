"""The README's performance tables, rendered from the files the benchmarks write.

``python -m bench readme`` rewrites the blocks between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` in README.md from ``docs/perf`` (``scaling``: the per-round table from
``results.jsonl`` of ``bench scaling`` and its Paillier run; ``targets``: the targets table from
``targets.json`` of ``bench targets --out docs/perf``). ``--check`` only says whether the README is
current; a test runs the same check, so a figure in the README is always one a benchmark wrote.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .targets import render_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PERF = ROOT / "docs" / "perf"
#: the README's per-round table: these client counts at this length and dropout
SCALING_NS, SCALING_DIM, SCALING_DROPOUT = (50, 200), 10_000, 0.1
_NAMES = {"secagg": "SecAgg", "secagg+": "SecAgg+", "lightsecagg": "LightSecAgg"}


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _kb(x: float) -> str:
    return f"{x / 1000:.1f} KB" if x < 1000 else f"{x / 1000:.0f} KB"


def _pick(rows: list[dict[str, Any]], protocol: str, n: int) -> dict[str, Any] | None:
    """The first repeat of (protocol, n) at the table's length and dropout."""
    for r in rows:
        if (r["protocol"], r["n"], r["dim"]) == (protocol, n, SCALING_DIM) and abs(
                r["dropout"] - SCALING_DROPOUT) < 1e-9:
            return r
    return None


def scaling_table(perf: Path = PERF) -> str:
    """Per round at 10,000 values and 10% dropout, per protocol and n, from ``bench scaling``."""
    masking, paillier = _rows(perf / "results.jsonl"), _rows(perf / "paillier" / "results.jsonl")
    lines = ["| protocol | n | server s | one client s | upload / client | download / client |",
             "|---|---|---|---|---|---|"]
    for protocol, name in _NAMES.items():
        for n in SCALING_NS:
            r = _pick(masking, protocol, n)
            if r is not None:
                lines.append(f"| {name} | {n} | {r['server_s']:.3f} | {r['client_mean_s']:.4f} | "
                             f"{_kb(r['bytes_up_per_client'])} | {_kb(r['bytes_down_per_client'])} |")
    for n in SCALING_NS[-1:]:
        r = _pick(paillier, "paillier", n)
        if r is not None:
            lines.append(
                f"| Paillier ({r['paillier_key_bits']}-bit, packed) | {n} | {r['server_s']:.2f} + "
                f"{r['keyholder_s']:.2f} decrypt | {r['paillier_offline_s']:.2f} offline + "
                f"{r['paillier_online_s']:.3f} online | {_kb(r['bytes_up_per_client'])} | "
                f"{_kb(r['bytes_down_per_client'])} |")
    run = json.loads((perf / "run.json").read_text()) if (perf / "run.json").exists() else {}
    machine = run.get("machine_line", "machine not recorded")
    return "\n".join(lines) + f"\n\nFrom `docs/perf/results.jsonl` ({machine})."


def targets_table(perf: Path = PERF) -> str:
    """The targets table from ``targets.json``."""
    path = perf / "targets.json"
    if not path.exists():
        return "No `docs/perf/targets.json` yet: run `python -m bench targets --out docs/perf`."
    return render_table(json.loads(path.read_text()))


BLOCKS: dict[str, Callable[[Path], str]] = {"scaling": scaling_table, "targets": targets_table}


def render(text: str, perf: Path = PERF) -> str:
    """``text`` with every bench block replaced by its current rendering."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(\n<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no <!-- bench:{name} --> block")
        body = make(perf)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if README.md differs from the rendering, change nothing")
    parser.add_argument("--perf", type=Path, default=PERF, help="where the benchmarks wrote")
    args = parser.parse_args(argv)
    current = README.read_text()
    fresh = render(current, args.perf)
    if args.check:
        ok = fresh == current
        print("README tables are current" if ok else "README tables are stale: python -m bench readme")
        return 0 if ok else 1
    README.write_text(fresh)
    print(f"wrote the bench blocks of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
