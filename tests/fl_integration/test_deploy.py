"""A real federation on this machine: ``examples/flower/deploy.py`` starts a SuperLink and
SuperNodes as separate processes talking TLS, runs the example app with our SecAgg+ through
``flwr run``, and kills one SuperNode (SIGKILL, by PID) in the middle of a secure round.

What is checked comes from the ServerApp's own records (``recording.py``): which nodes each
round sampled and aggregated, the aggregate, each evaluation. The aggregate is compared with
plain FedAvg over the surviving nodes, recomputed here from the example's task code. The run is
started under a ``ProcessGroup`` that follows every process it spawns, and whatever is left
when the test ends is stopped by PID: a hang fails the test, it does not block CI.

Slow (a few minutes each: Flower polls every few seconds and starts a process per message).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

from fl_integration.flower import SecAggWorkflow  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flower"

pytestmark = pytest.mark.slow

STAGE_TIMEOUT = 45.0  # seconds; a healthy stage takes 5-20 s here, the killed node costs this
RUN_TIMEOUT = 600.0  # deploy.py gives up after this; the test waits a little longer


def _example(name: str):
    """A module of the example (not a package), imported under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"flower_example_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


processes = _example("processes")


def _free_ports(count: int) -> list[int]:
    """``count`` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise RuntimeError("no free ports")


def deploy(tmp_path: Path, *args: str) -> Path:
    """Run deploy.py with ``args``; return its output directory. Fails on a non-zero exit or
    a hang, and stops (by PID) anything it left running, failing then too."""
    ports = _free_ports(1 + 8)
    workdir = tmp_path / "federation"
    argv = [sys.executable, str(EXAMPLE / "deploy.py"), "--workdir", str(workdir),
            "--port", str(ports[0]), "--node-port", str(ports[1]), "--quiet",
            "--timeout", str(RUN_TIMEOUT), *args]
    group = processes.ProcessGroup(tmp_path / "test-logs", dict(os.environ, FLWR_TELEMETRY_ENABLED="0"))
    proc = group.start("deploy", argv)
    try:
        status = proc.wait(timeout=RUN_TIMEOUT + 120)
    except Exception:  # noqa: BLE001 - a hang: let deploy.py tear down, then make sure
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            pass
        status = None
    finally:
        forced = group.stop_all(grace=5.0)
    log = group.log("deploy").read_text(errors="replace")
    server = workdir / "logs" / "flwr-run.log"
    if server.exists():
        log += "\n--- the ServerApp's log ---\n" + server.read_text(errors="replace")[-6000:]
    assert status == 0, f"deploy.py exited with {status}:\n{log[-12000:]}"
    assert not forced, f"deploy.py left {forced} running"
    saved = workdir / "processes.json"
    assert saved.exists() and not processes.still_running(saved)
    return workdir / "out"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_aggregates(out: Path, run_config: dict[str, float]) -> list[dict]:
    """Every round's aggregate is FedAvg over the nodes it aggregated, within the quantization
    bound; returns the fit records."""
    task = _example("task")
    federation = json.loads((out / "federation.json").read_text())
    partition = {n["node_id"]: n["partition"] for n in federation["nodes"]}
    count = len(federation["nodes"])
    fits = _lines(out / "fit.jsonl")
    model = task.initial_parameters()
    for fit in fits:
        got = [np.asarray(a, np.float64) for a in fit["parameters"]]
        want, weight = _fedavg(task, model, [partition[n] for n in fit["survivors"]], count,
                               run_config)
        _, encoder = SecAggWorkflow(num_shares=5, reconstruction_threshold=3).plan(
            len(fit["sampled"]), sum(a.size for a in model) + 1)
        err = len(fit["survivors"]) / encoder.scale
        for g, w in zip(got, want, strict=True):
            bound = err * (1 + np.abs(w)) / (weight - err) + 1e-6 * (1 + np.abs(w))
            assert np.all(np.abs(g - w) <= bound), (fit["round"], np.max(np.abs(g - w)))
        model = [np.asarray(a, np.float32).reshape(m.shape) for a, m in zip(got, model,
                                                                            strict=True)]
    return fits


def _fedavg(task, model, partitions, count, cfg):
    """Plain FedAvg of the given partitions' training from ``model`` (weights clipped to
    max-weight and parameters to clipping-range, as the nodes do); and the weight sum."""
    updates, weights = [], []
    for p in partitions:
        x, y = task.load_partition(p, count)
        trained = task.train(model, x, y, int(cfg["local-epochs"]), float(cfg["learning-rate"]))
        updates.append([np.clip(a.astype(np.float64), -8.0, 8.0) for a in trained])
        weights.append(min(len(y), 1000.0) / 1000.0)
    total = sum(weights)
    avg = [sum(w * u[i] for w, u in zip(weights, updates, strict=True)) / total
           for i in range(len(model))]
    return avg, total


EXAMPLE_CONFIG = {"local-epochs": 5, "learning-rate": 0.5}


def test_a_supernode_killed_mid_round(tmp_path):
    """5 SuperNodes, TLS, 2 rounds; node 2 is killed as round 1 sends masked_input (after it
    shared its keys, so its pairwise masks must be rebuilt from its neighbours' shares). Round 1
    completes with the other four and the aggregate is their FedAvg; evaluation does not wait
    for the dead node; round 2 runs with the four; the run exits cleanly and leaves nothing."""
    out = deploy(tmp_path, "--nodes", "5", "--rounds", "2", "--kill", "2@1:masked_input",
                 "--run-config", f"stage-timeout={STAGE_TIMEOUT} reply-timeout={STAGE_TIMEOUT}")
    federation = json.loads((out / "federation.json").read_text())
    assert federation["tls"] and len(federation["nodes"]) == 5
    (killed,) = federation["killed"]
    assert (killed["partition"], killed["round"], killed["stage"]) == (2, 1, "masked_input")
    everyone = {n["node_id"] for n in federation["nodes"]}
    survivors = everyone - {killed["node_id"]}
    fits = check_aggregates(out, EXAMPLE_CONFIG)
    assert [f["round"] for f in fits] == [1, 2]
    assert set(fits[0]["sampled"]) == everyone and set(fits[0]["survivors"]) == survivors
    assert set(fits[1]["survivors"]) == survivors  # sampled: 4, or 5 if not yet noticed dead
    evaluations = _lines(out / "evaluate.jsonl")
    assert [e["round"] for e in evaluations] == [1, 2]
    assert all(set(e["nodes"]) == survivors and e["accuracy"] > 0.8 for e in evaluations)
    assert (out / "summary.json").exists()
    server_log = (tmp_path / "federation" / "logs" / "flwr-run.log").read_text()
    assert f"(node {killed['node_id']}) dropped at masked_input" in server_log


def test_malicious_mode_over_a_deployment(tmp_path):
    """4 SuperNodes with Ed25519 signing keys and the verify-key file; the consistency check
    runs as a fifth message. Node 3 is killed as round 2 sends the consistency check: it had
    masked its input, so the sum includes it, and the three others sign and unmask."""
    out = deploy(tmp_path, "--nodes", "4", "--rounds", "2", "--malicious",
                 "--kill", "3@2:consistency_check",
                 "--run-config", f"stage-timeout={STAGE_TIMEOUT} reply-timeout={STAGE_TIMEOUT}")
    federation = json.loads((out / "federation.json").read_text())
    assert federation["malicious"] and federation["tls"]
    everyone = {n["node_id"] for n in federation["nodes"]}
    fits = check_aggregates(out, EXAMPLE_CONFIG)
    assert [set(f["survivors"]) for f in fits] == [everyone, everyone]
    stages = [e["stage"] for e in _lines(out / "events.jsonl") if e["event"] == "send"]
    assert stages.count("consistency_check") == 2
    assert [e["round"] for e in _lines(out / "evaluate.jsonl")] == [1, 2]
