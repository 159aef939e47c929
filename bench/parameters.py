"""``python -m bench parameters``: the parameter finder's choices as a Markdown table.

For n = 10 … 10^5 at the stated rates: the graph, degree k, threshold t, and the budgets the
guarantee holds for: dropouts D, colluding clients C, the corrupt neighbours a one client may
have, and the honest inputs every released sum holds (n - D - C). ``docs/parameters.md`` holds
this output for the default rates; a test keeps it in step with the finder.
"""

from __future__ import annotations

import argparse

from protocols.secagg.params import find_parameters

SIZES = (10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 100_000)
HEADER = ("| n | graph | k | t | dropouts D | colluders C | corrupt neighbours a "
          "| honest inputs per sum |\n|---:|---|---:|---:|---:|---:|---:|---:|")


def table(*, dropout: float = 0.05, corrupt: float = 0.05, malicious: bool = False,
          sizes: tuple[int, ...] = SIZES) -> str:
    """One Markdown row per n (see the module doc)."""
    rows = [HEADER]
    for n in sizes:
        p = find_parameters(n, dropout=dropout, corrupt=corrupt, malicious=malicious)
        graph = "complete" if p.complete else "Harary"
        rows.append(f"| {n:,} | {graph} | {p.degree:,} | {p.threshold:,} | {p.max_dropouts:,} "
                    f"| {p.max_corrupt:,} | {p.corrupt_neighbors:,} "
                    f"| {n - p.max_dropouts - p.max_corrupt:,} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dropout", type=float, default=0.05, help="planned dropout rate")
    parser.add_argument("--corrupt", type=float, default=0.05, help="planned colluder rate")
    parser.add_argument("--malicious", action="store_true", help="malicious-server mode")
    args = parser.parse_args(argv)
    print(table(dropout=args.dropout, corrupt=args.corrupt, malicious=args.malicious))
    return 0
