"""ServerApp: FedAvg whose fit rounds run secure aggregation, as in Flower's SecAgg+ example."""

from __future__ import annotations

import math

from flwr.common import Context, Metrics, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.server.workflow import SecAggPlusWorkflow as FlowerSecAggPlusWorkflow
from recording import Recorder, RecordingGrid, RecordingStrategy, TimedFit
from task import initial_parameters

# The one line that switches from Flower's SecAgg+ to secagg's; it was:
# from flwr.server.workflow import SecAggPlusWorkflow
from fl_integration.flower import SecAggPlusWorkflow


def weighted_accuracy(metrics: list[tuple[int, Metrics]]) -> Metrics:
    total = sum(n for n, _ in metrics)
    return {"accuracy": sum(n * float(m["accuracy"]) for n, m in metrics) / total}


def fit_workflow(cfg):
    """Our SecAgg+ (or LightSecAgg: ``aggregator = "lightsecagg"``), with ``compression`` if
    set; or, for the side-by-side measurement (``secure-aggregation = "flower"``), Flower's own
    with the same shares, threshold, clipping and timeout."""
    shares = cfg["num-shares"] or None  # 0: let secagg's parameter finder choose
    threshold = cfg["reconstruction-threshold"] or None
    aggregator = str(cfg.get("aggregator", "secagg"))
    compression = str(cfg.get("compression", "")) or None
    common = {"max_weight": float(cfg["max-weight"]),
              "clipping_range": float(cfg["clipping-range"]),
              "timeout": float(cfg["stage-timeout"])}
    if cfg["secure-aggregation"] == "flower":
        if aggregator != "secagg" or compression:
            raise ValueError("Flower's own SecAgg+ has neither LightSecAgg nor compression: "
                             "set aggregator = \"secagg\" and compression = \"\"")
        return FlowerSecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold,
                                        **common)
    if aggregator == "lightsecagg":  # U and T come from the rates: shares and t do not apply
        shares = threshold = None
    return SecAggPlusWorkflow(
        num_shares=shares, reconstruction_threshold=threshold,
        dropout_rate=float(cfg["dropout-rate"]), corrupt_rate=float(cfg["corrupt-rate"]),
        malicious=bool(cfg["malicious"]), verify_keys=str(cfg["verify-keys"]) or None,
        protocol=aggregator, compression=compression, **common,
    )


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
    fit = fit_workflow(cfg)
    # Flower's evaluation waits for every sampled node without a deadline: a node that is gone
    # would hold it until the SuperLink gives up on the node. Every wait gets a deadline.
    recorder = Recorder(cfg["output-dir"]) if cfg["output-dir"] else None
    grid = RecordingGrid(grid, recorder, deadline=float(cfg["reply-timeout"]))
    if recorder is not None:  # a run that reports what it did (deploy.py, the tests)
        strategy = RecordingStrategy(strategy, recorder)
        fit = TimedFit(fit, grid, strategy, recorder)
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=int(cfg["num-server-rounds"])),
        strategy=strategy,
    )
    DefaultWorkflow(fit_workflow=fit)(grid, legacy)
    if recorder is not None:
        recorder.finish(rounds=int(cfg["num-server-rounds"]),
                        accuracy=legacy.history.metrics_distributed.get("accuracy", []))
