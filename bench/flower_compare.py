"""The same secure-aggregation round through Flower's SecAgg+ and through ours, side by side.

Flower's side runs Flower's own code unchanged — ``SecAggPlusWorkflow`` on the server and
``secaggplus_mod`` in a ``ClientApp`` of NumPyClients — over ``LocalGrid``, Flower's Grid
interface delivered in this process (no SuperLink, no Ray: nothing but the protocol is timed).
Ours runs ``protocols.simulate_round``. Both get the same clients, vector length, neighbours
(k), threshold (t) and dropouts (clients that go silent after sharing keys). Client time is
measured per node; server time is the rest of the round's wall time.

    python -m bench.flower_compare                       # both targets (takes minutes)
    python -m bench.flower_compare --clients 50 --length 10000 --complete
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Collection
from typing import Any

import numpy as np

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

FLOWER_STAGE_KEY = ("secaggplus_configs", "stage")
# Flower quantizes w*x (w = num_examples / max_weight = 1e-3 here) on 2^22 levels over [-8, 8]:
# one level is 3.8e-6, i.e. 3.8e-3 once divided by w. A broken round is off by O(1).
FLOWER_TOLERANCE = 0.05


def pick_dropouts(n: int, fraction: float) -> list[int]:
    """Deterministic: every (1/fraction)-th client, partition ids 0..n-1."""
    count = int(round(n * fraction))
    return sorted({int(i * n / count) for i in range(count)}) if count else []


def flower_round(
    n: int, m: int, num_shares: int, threshold: int, dropped: Collection[int]
) -> dict[str, Any]:
    """One fit round of Flower's SecAgg+ (its workflow and mod, unmodified) over LocalGrid."""
    import flwr.compat.common.recorddict_compat as compat
    from flwr.app import ConfigRecord, Context, RecordDict
    from flwr.client import ClientApp, NumPyClient
    from flwr.client.mod import secaggplus_mod
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

    from fl_integration.flower.local import LocalGrid

    class Fixed(NumPyClient):
        def __init__(self, pid: int) -> None:
            self.x = flower_input(pid, m)

        def fit(self, parameters, config):
            return [self.x], 1, {}

    def client_fn(context: Context):
        return Fixed(int(context.node_config["partition-id"])).to_client()

    drop = set(dropped)

    def silent(pid: int, msg) -> bool:
        record = msg.content.config_records.get(FLOWER_STAGE_KEY[0], {})
        return pid in drop and record.get(FLOWER_STAGE_KEY[1]) == "collect_masked_vectors"

    grid = LocalGrid(ClientApp(client_fn=client_fn, mods=[secaggplus_mod]), n, silent=silent,
                     wait_for_silent=False)
    strategy = FedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n,
                      min_available_clients=n)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=1), strategy=strategy)
    for node in grid.get_node_ids():
        legacy.client_manager.register(GridClientProxy(node, grid, 1))
    legacy.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: 1})
    legacy.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters([np.zeros(m, np.float32)]), True
    )
    workflow = SecAggPlusWorkflow(num_shares=num_shares, reconstruction_threshold=threshold)
    start = time.perf_counter()
    workflow(grid, legacy)
    wall = time.perf_counter() - start
    got = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(legacy.state.array_records[MAIN_PARAMS_RECORD], True)
    )[0]
    alive = [p for p in range(n) if p not in drop]
    want = np.mean([flower_input(p, m) for p in alive], axis=0)
    return _figures(wall, list(grid.client_seconds.values()),
                    ok=bool(np.max(np.abs(got - want)) < FLOWER_TOLERANCE))


def flower_input(pid: int, m: int) -> np.ndarray:
    return np.sin(np.arange(m) * (pid + 1) * 1e-3).astype(np.float32)


def ours_round(
    n: int, m: int, neighbors: int | None, threshold: int, dropped: Collection[int],
    dropout: float = 0.1,
) -> dict[str, Any]:
    """The same round through ``protocols.simulate_round`` (client ids are partition ids + 1),
    planned for ``dropout`` dropouts and 5% corrupt clients (the budgets our config enforces)."""
    from protocols import SecAggConfig, simulate_round
    from protocols.secagg.params import worst_count

    ids = list(range(1, n + 1))
    budgets = {}
    if neighbors is not None:
        budgets = {"max_dropouts": worst_count(dropout, n), "max_corrupt": worst_count(0.05, n)}
    config = SecAggConfig(client_ids=ids, vector_length=m, threshold=threshold,
                          neighbors=neighbors, modulus_bits=32, **budgets)
    inputs = {u: (np.arange(m, dtype=np.uint64) * u % 2**32).astype(np.uint32) for u in ids}
    drops = {"masked_input": [p + 1 for p in dropped]}
    start = time.perf_counter()
    result = simulate_round(config, inputs, drops)
    wall = time.perf_counter() - start
    want = np.zeros(m, np.uint64)
    for u in result.included:
        want += inputs[u]
    ok = bool(np.array_equal(result.sum.astype(np.uint64), want % 2**32))
    stats = result.stats
    clients = [stats["client_mean_s"]] * (n - len(dropped))  # mean is all simulate_round keeps
    out = _figures(wall, clients, ok=ok)
    out["server_s"] = stats["server_s"]
    out["client_max_s"] = stats["client_max_s"]
    return out


def _figures(wall: float, client_seconds: list[float], *, ok: bool) -> dict[str, Any]:
    active = [s for s in client_seconds if s > 0] or [0.0]
    return {
        "wall_s": wall,
        "server_s": wall - sum(client_seconds),
        "client_mean_s": float(np.mean(active)),
        "client_max_s": float(max(active)),
        "clients_total_s": float(sum(client_seconds)),
        "correct": ok,
    }


def compare(
    n: int, m: int, *, neighbors: int | None, threshold: int, dropout: float = 0.1
) -> dict[str, Any]:
    """Both implementations on one round; ``neighbors=None`` is the complete graph.

    Flower's ``num_shares`` counts the client itself (k + 1) and must be odd below n, so k is
    rounded up to even here for both sides."""
    if neighbors is not None and neighbors % 2:
        neighbors += 1
    num_shares = n if neighbors is None or neighbors >= n - 1 else neighbors + 1
    dropped = pick_dropouts(n, dropout)
    flower = flower_round(n, m, num_shares, threshold, dropped)
    ours = ours_round(n, m, None if num_shares == n else neighbors, threshold, dropped, dropout)
    return {
        "clients": n, "length": m, "neighbors": num_shares - 1, "threshold": threshold,
        "dropped": len(dropped), "flower": flower, "ours": ours,
        "ratio_wall": flower["wall_s"] / ours["wall_s"],
        "ratio_server": flower["server_s"] / max(ours["server_s"], 1e-9),
        "ratio_client_mean": flower["client_mean_s"] / max(ours["client_mean_s"], 1e-9),
    }


def secagg_plus_parameters(n: int, dropout: float = 0.1) -> tuple[int, int]:
    """(k, t) our parameter finder picks for n clients (the compared dropout rate, 5% corrupt;
    the sparse graph even below the finder's complete-graph cutoff)."""
    from protocols import find_parameters

    p = find_parameters(n, dropout=dropout, corrupt=0.05, malicious=False, min_sparse_clients=0)
    return p.degree, p.threshold


def report(row: dict[str, Any]) -> str:
    f, o = row["flower"], row["ours"]
    head = (f"{row['clients']} clients x {row['length']:,} values, k={row['neighbors']}, "
            f"t={row['threshold']}, {row['dropped']} dropped after share_keys")
    lines = [head, f"{'':8}{'wall s':>10}{'server s':>10}{'client mean s':>15}{'correct':>9}"]
    for name, r in (("Flower", f), ("ours", o)):
        lines.append(f"{name:8}{r['wall_s']:>10.2f}{r['server_s']:>10.2f}"
                     f"{r['client_mean_s']:>15.4f}{r['correct']!s:>9}")
    lines.append(f"ours is {row['ratio_wall']:.1f}x faster (whole round), "
                 f"{row['ratio_server']:.1f}x (server), {row['ratio_client_mean']:.1f}x "
                 "(one client)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--length", type=int, default=100_000)
    parser.add_argument("--complete", action="store_true", help="complete graph (SecAgg)")
    parser.add_argument("--dropout", type=float, default=0.1)
    args = parser.parse_args(argv)
    if args.clients is None:  # the two targets of docs/performance.md
        scenarios = [(200, False), (50, True)]
    else:
        scenarios = [(args.clients, args.complete)]
    for n, complete in scenarios:
        if complete:
            k, t = None, (2 * n) // 3 + 1
        else:
            k, t = secagg_plus_parameters(n, args.dropout)
        print(report(compare(n, args.length, neighbors=k, threshold=t, dropout=args.dropout)),
              flush=True)
        print()


if __name__ == "__main__":
    main()
