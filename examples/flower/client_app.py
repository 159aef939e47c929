"""ClientApp: a NumPyClient, with secure aggregation as a mod."""

from __future__ import annotations

from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod as flower_secaggplus_mod
from flwr.common import Context
from task import evaluate, load_partition, train

# The one line that switches from Flower's SecAgg+ to secagg's; it was:
# from flwr.client.mod import secaggplus_mod
from fl_integration.flower import secaggplus_mod


class LogRegClient(NumPyClient):
    def __init__(self, partition_id: int, num_partitions: int, epochs: int, lr: float) -> None:
        self.x, self.y = load_partition(partition_id, num_partitions)
        self.epochs, self.lr = epochs, lr

    def fit(self, parameters, config):
        return train(parameters, self.x, self.y, self.epochs, self.lr), len(self.y), {}

    def evaluate(self, parameters, config):
        loss, accuracy = evaluate(parameters, self.x, self.y)
        return loss, len(self.y), {"accuracy": accuracy}


def client_fn(context: Context):
    cfg = context.run_config
    return LogRegClient(
        int(context.node_config["partition-id"]), int(context.node_config["num-partitions"]),
        int(cfg["local-epochs"]), float(cfg["learning-rate"]),
    ).to_client()


def secure_aggregation(msg, ctxt, call_next):
    """secagg's mod, unless this node's operator chose Flower's own for the side-by-side
    measurement (node config ``secure-aggregation="flower"``; the node decides, not the run)."""
    if ctxt.node_config.get("secure-aggregation", "secagg") == "flower":
        return flower_secaggplus_mod(msg, ctxt, call_next)
    return secaggplus_mod(msg, ctxt, call_next)


app = ClientApp(client_fn=client_fn, mods=[secure_aggregation])
