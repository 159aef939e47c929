"""Ours against Flower's SecAgg+ in deployment: ``deploy.py --compare-flower``.

The same app, the same N SuperNodes and rounds, the same shares and threshold (the complete
graph, t = 2n/3 + 1, which both support): each run on a fresh federation of its own (TLS, one
process per component), the two alternating ``--repeat`` times so that both see the machine in
the same states. Per secure fit round: wall seconds as the ServerApp measures the fit workflow,
and the bytes of the messages' content it sent and received (``recording.py``); per run, the
CPU seconds of the whole federation.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

from deploy import Options, read_jsonl, run_federation

IMPLEMENTATIONS = {"secagg": "secagg", "flower": "Flower SecAgg+"}


def compare(opts: Options, repeat: int) -> int:
    """Ours and Flower's SecAgg+ on fresh, identical federations, alternately ``repeat`` times;
    prints wall seconds per secure fit round and content bytes per round."""
    n = opts.nodes
    config = {"num-shares": n, "reconstruction-threshold": (2 * n) // 3 + 1, **opts.run_config}
    rows: dict[str, list[dict]] = {"secagg": [], "flower": []}
    cpu: dict[str, list[float]] = {"secagg": [], "flower": []}
    base = opts.workdir or Path(tempfile.mkdtemp(prefix="secagg-compare-"))
    for k in range(repeat):
        for impl in ("secagg", "flower") if k % 2 == 0 else ("flower", "secagg"):
            run_opts = replace(opts, secure_aggregation=impl, run_config=config,
                               workdir=base / f"{impl}-{k}", malicious=False)
            status, workdir = run_federation(run_opts)
            if status != 0:
                return status
            rows[impl] += read_jsonl(workdir / "out" / "fit.jsonl")
            info = json.loads((workdir / "out" / "federation.json").read_text())
            cpu[impl].append(info["cpu_seconds"])
    summary = {impl: {**_summarize(fits), "cpu_seconds_per_run": cpu[impl]}
               for impl, fits in rows.items()}
    (base / "comparison.json").write_text(json.dumps({"config": config, "nodes": n,
                                                      "rounds": opts.rounds, **summary}, indent=1))
    print(f"\n{n} SuperNodes, {opts.rounds} rounds x {repeat} runs each, TLS "
          f"{'off' if opts.insecure else 'on'}; {config}")
    print("                s/round: mean    min    max   kB sent/round  kB received/round"
          "  CPU s/run")
    for impl, s in summary.items():
        runs = s["cpu_seconds_per_run"]
        print(f"{IMPLEMENTATIONS[impl]:<20}  {s['mean']:7.2f} "
              f"{s['min']:6.2f} {s['max']:6.2f}   {s['sent'] / 1e3:12.1f}  "
              f"{s['received'] / 1e3:17.1f}  {sum(runs) / len(runs):9.1f}")
    print(f"results in {base / 'comparison.json'}")
    return 0


def _summarize(fits: list[dict]) -> dict[str, float]:
    seconds = [f["seconds"] for f in fits]
    return {"rounds": len(fits), "mean": sum(seconds) / len(seconds), "min": min(seconds),
            "max": max(seconds), "seconds": seconds,
            "sent": sum(f["bytes_sent"] for f in fits) / len(fits),
            "received": sum(f["bytes_received"] for f in fits) / len(fits)}
