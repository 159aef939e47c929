"""ServerApp: FedAvg whose fit rounds run secure aggregation, as in Flower's SecAgg+ example."""

from __future__ import annotations

import math

from flwr.common import Context, Metrics, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from task import initial_parameters

# The one line that switches from Flower's SecAgg+ to secagg's; it was:
# from flwr.server.workflow import SecAggPlusWorkflow
from fl_integration.flower import SecAggPlusWorkflow


def weighted_accuracy(metrics: list[tuple[int, Metrics]]) -> Metrics:
    total = sum(n for n, _ in metrics)
    return {"accuracy": sum(n * float(m["accuracy"]) for n, m in metrics) / total}


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    n = int(cfg["num-clients"])
    # A lost node is a dropout the round tolerates; requiring all n would stall the next round.
    least = n - math.ceil(float(cfg["dropout-rate"]) * n)
    strategy = FedAvg(
        fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=least,
        min_evaluate_clients=least, min_available_clients=least,
        evaluate_metrics_aggregation_fn=weighted_accuracy,
        initial_parameters=ndarrays_to_parameters(initial_parameters()),
    )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=int(cfg["num-server-rounds"])),
        strategy=strategy,
    )
    fit_workflow = SecAggPlusWorkflow(
        num_shares=int(cfg["num-shares"]),
        reconstruction_threshold=int(cfg["reconstruction-threshold"]),
        dropout_rate=float(cfg["dropout-rate"]),
        corrupt_rate=float(cfg["corrupt-rate"]),
        max_weight=float(cfg["max-weight"]),
        clipping_range=float(cfg["clipping-range"]),
        timeout=float(cfg["stage-timeout"]),
    )
    DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
