"""A local Flower federation with secagg's SecAgg+: one SuperLink and N SuperNodes as separate
processes, talking TLS, running this app for R rounds; every process is stopped by PID at the
end, on failure and on Ctrl-C.

    python examples/flower/deploy.py --nodes 4 --rounds 3           # make federation
    python examples/flower/deploy.py --malicious                     # nodes sign, 5 stages
    python examples/flower/deploy.py --kill 1@2:masked_input         # lose node 1 in round 2
    python examples/flower/deploy.py --compare-flower                # ours vs Flower's SecAgg+

What it does: makes a CA and a SuperLink certificate (``certificates.py``); starts
``flower-superlink`` on ``--host:--port`` (Fleet, Control and Runtime APIs on one port) and N
``flower-supernode`` with ``partition-id=i`` (their runtime APIs on ``--node-port + i``); with
``--malicious`` gives each node an Ed25519 signing key and every party the verify-key file
(node id -> key); submits the app with ``flwr run`` from a copy of it (``flwr`` never touches
this directory; its configuration lives in the work directory's ``FLWR_HOME``) and streams the
ServerApp's log. The ServerApp records what it did in the output directory (``recording.py``):
this script prints each round's time and bytes from there, and ``--kill`` watches it to kill a
SuperNode (SIGKILL, by PID) when the ServerApp sends the chosen stage of the chosen round.

Exit status: 0 when the run finished and the ServerApp wrote its summary, 1 otherwise, 124
when ``--timeout`` passed first, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from certificates import make_tls
from processes import ProcessGroup

HERE = Path(__file__).resolve().parent
APP_FILES = ("pyproject.toml", "task.py", "client_app.py", "server_app.py", "recording.py")
BIN = Path(sys.executable).parent  # Flower starts its helpers by name: this bin goes first
CONNECTION = "local-deployment"  # the SuperLink connection's name in FLWR_HOME/config.toml


class DeployError(RuntimeError):
    """The federation did not come up, or the run did not finish."""


@dataclass(frozen=True, kw_only=True)
class Kill:
    """Kill the SuperNode of ``partition`` when the ServerApp sends ``stage`` of ``round``."""

    partition: int
    round: int
    stage: str

    @classmethod
    def parse(cls, text: str) -> Kill:
        match = re.fullmatch(r"(\d+)@(\d+):([a-z_]+)", text)
        if not match:
            raise argparse.ArgumentTypeError("--kill wants PARTITION@ROUND:STAGE, e.g. "
                                             "1@2:masked_input")
        return cls(partition=int(match[1]), round=int(match[2]), stage=match[3])


@dataclass(frozen=True, kw_only=True)
class Options:
    """What to start and run; ``deploy.py --help`` explains each."""

    nodes: int = 4
    remote_nodes: int = 0
    rounds: int = 3
    host: str = "127.0.0.1"
    port: int = 9600
    node_port: int = 9610
    tls_names: tuple[str, ...] = ()
    insecure: bool = False
    malicious: bool = False
    secure_aggregation: str = "secagg"
    kill: Kill | None = None
    run_config: dict[str, object] = field(default_factory=dict)
    workdir: Path | None = None
    keep: bool = False
    timeout: float = 900.0
    quiet: bool = False


@dataclass
class Node:
    partition: int
    port: int
    pid: int
    node_id: int = 0


class Federation:
    """One SuperLink and N SuperNodes of this machine, and the run of the app on them."""

    def __init__(self, opts: Options, workdir: Path) -> None:
        self.opts, self.workdir = opts, workdir
        self.out = workdir / "out"
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
        env["PYTHONUNBUFFERED"] = "1"
        self.procs = ProcessGroup(workdir / "logs", env)
        self.nodes: list[Node] = []
        self.killed: list[dict] = []
        self.cpu: dict[str, float] = {}  # CPU seconds by process, once the run has ended
        self._reaped_before = _reaped_cpu()
        self.tls = None if opts.insecure else make_tls(workdir / "tls", opts.tls_names)
        self.verify_keys = workdir / "keys" / "verify-keys.json"

    # -- bring-up -----------------------------------------------------------------------------

    @property
    def run_config(self) -> dict[str, object]:
        """What the run changes in the app's ``[tool.flwr.app.config]``."""
        return {
            "num-server-rounds": self.opts.rounds,
            "num-clients": self.opts.nodes + self.opts.remote_nodes,
            "output-dir": str(self.out),
            "secure-aggregation": self.opts.secure_aggregation,
            # malicious mode needs 2t > n + colluders: the finder picks t for this n
            **({"malicious": True, "verify-keys": str(self.verify_keys), "num-shares": 0,
                "reconstruction-threshold": 0} if self.opts.malicious else {}),
            **self.opts.run_config,
        }

    def check_plan(self) -> None:
        """Refuse, before starting anything, a federation whose rounds our workflow cannot
        plan with the app's settings (e.g. 3 nodes with a dropout and a colluder budgeted)."""
        from task import initial_parameters

        from fl_integration.flower import SecAggWorkflow
        from fl_integration.flower.records import vector_length

        with open(HERE / "pyproject.toml", "rb") as f:
            config = {**tomllib.load(f)["tool"]["flwr"]["app"]["config"], **self.run_config}
        if config["secure-aggregation"] != "secagg":
            return
        lightsecagg = config.get("aggregator", "secagg") == "lightsecagg"
        n, length = int(config["num-clients"]), vector_length(initial_parameters())
        try:
            workflow = SecAggWorkflow(
                num_shares=None if lightsecagg else config["num-shares"] or None,
                reconstruction_threshold=None if lightsecagg
                else config["reconstruction-threshold"] or None,
                dropout_rate=float(config["dropout-rate"]),
                corrupt_rate=float(config["corrupt-rate"]),
                malicious=bool(config["malicious"]), verify_keys={} if config["malicious"] else None,
                protocol=str(config.get("aggregator", "secagg")),
                compression=str(config.get("compression", "")) or None,
            )
            if workflow.compression is None:
                workflow.plan(n, length)
            else:
                workflow.plan_compressed(range(n), length - 1)
        except ValueError as exc:
            raise DeployError(f"the app cannot run a round of {config['num-clients']} nodes "
                              f"with these settings: {exc}") from None

    def start(self) -> None:
        opts = self.opts
        self.check_plan()
        self._say(f"work directory {self.workdir}")
        link = [str(BIN / "flower-superlink"), "--host", opts.host, "--port", str(opts.port),
                "--disable-runtime-dependency-installation", *self._server_tls()]
        proc = self.procs.start("superlink", link, env=self._home("superlink"))
        self._wait_log("superlink", proc, r"Uvicorn running on", 60)
        self._say(f"SuperLink pid {proc.pid} on {opts.host}:{opts.port} "
                  f"({'no TLS' if opts.insecure else 'TLS'})")
        keys = self._signing_keys() if opts.malicious else {}
        for i in range(opts.nodes):
            self._start_node(i, keys.get(i))
        for node in self.nodes:
            match = self._wait_log(f"supernode-{node.partition}", None, r"SuperNode ID: (\d+)", 60)
            node.node_id = int(match[1])
        total = opts.nodes + opts.remote_nodes
        if opts.remote_nodes:
            self._say(f"waiting for {opts.remote_nodes} SuperNode(s) of other machines to "
                      f"connect to {self.address(remote=True)}")
        self._wait_activated(total, 60 if not opts.remote_nodes else opts.timeout)
        if opts.malicious:
            self._write_verify_keys(keys)
        for node in self.nodes:
            self._say(f"SuperNode {node.partition}: pid {node.pid}, node id {node.node_id}, "
                      f"runtime API 127.0.0.1:{node.port}")

    def _start_node(self, i: int, key: tuple[Path, bytes] | None) -> None:
        opts = self.opts
        config = {"partition-id": i, "num-partitions": opts.nodes + opts.remote_nodes,
                  "secagg-state-dir": str(self.workdir / f"node-{i}" / "secagg-state")}
        if key is not None:
            config["secagg-signing-key"] = str(key[0])
            config["secagg-verify-keys"] = str(self.verify_keys)
        if opts.secure_aggregation != "secagg":
            config["secure-aggregation"] = opts.secure_aggregation
        tls = ["--insecure"] if opts.insecure else ["--root-certificates", str(self.tls.ca_cert)]
        port = opts.node_port + i
        argv = [str(BIN / "flower-supernode"), "--superlink", self.address(), *tls,
                "--host", "127.0.0.1", "--port", str(port), "--node-config", _toml(config)]
        proc = self.procs.start(f"supernode-{i}", argv, env=self._home(f"node-{i}"))
        self.nodes.append(Node(partition=i, port=port, pid=proc.pid))

    def _server_tls(self) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
        return ["--ssl-ca-certfile", str(self.tls.ca_cert), "--ssl-certfile",
                str(self.tls.server_cert), "--ssl-keyfile", str(self.tls.server_key)]

    def _signing_keys(self) -> dict[int, tuple[Path, bytes]]:
        from fl_integration.flower.identity import write_signing_key

        directory = self.workdir / "keys"
        directory.mkdir(mode=0o700, exist_ok=True)
        out = {}
        for i in range(self.opts.nodes):
            path = directory / f"node-{i}.key"
            out[i] = (path, write_signing_key(path))
        return out

    def _write_verify_keys(self, keys: dict[int, tuple[Path, bytes]]) -> None:
        """The PKI, once the SuperLink has given every node its id: node id -> verify key."""
        from fl_integration.flower.identity import write_verify_keys

        write_verify_keys(self.verify_keys, {n.node_id: keys[n.partition][1] for n in self.nodes})
        self._say(f"verify-key file {self.verify_keys} ({len(self.nodes)} nodes)")

    def address(self, *, remote: bool = False) -> str:
        host = self.opts.host
        if host in ("0.0.0.0", "::") and not remote:
            host = "127.0.0.1"
        elif remote and self.opts.tls_names:
            host = self.opts.tls_names[0]
        return f"{host}:{self.opts.port}"

    def _home(self, name: str) -> dict[str, str]:
        home = self.workdir / name
        home.mkdir(parents=True, exist_ok=True)
        return {"FLWR_HOME": str(home)}

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> int:
        """Submit the app, stream its log, kill a node when told; the exit status."""
        app = self._app_copy()
        home = self._flwr_home()
        self.out.mkdir(parents=True, exist_ok=True)
        argv = [str(BIN / "flwr"), "run", str(app), CONNECTION, "--stream",
                "--run-config", _toml(self.run_config)]
        self._say("flwr run " + " ".join(argv[2:]))
        proc = self.procs.start("flwr-run", argv, pipe=True, env={"FLWR_HOME": str(home)})
        lines = _lines(proc)
        deadline = time.monotonic() + self.opts.timeout
        with open(self.procs.log("flwr-run"), "w") as log:
            while True:
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    line = ""
                if line is None:  # end of output
                    break
                if line:
                    log.write(line)
                    if not self.opts.quiet:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                self._maybe_kill()
                if time.monotonic() > deadline:
                    self._say(f"no end after {self.opts.timeout:.0f} s: giving up")
                    return 124
        code = proc.wait()
        self.cpu = {**self.procs.cpu_seconds(), "ended": _reaped_cpu() - self._reaped_before}
        self._save()
        if (self.out / "summary.json").exists() and code == 0:
            self._report()
            return 0
        self._say(f"the run did not finish (flwr exit status {code}); logs in "
                  f"{self.procs.log_dir}")
        return 1

    def _app_copy(self) -> Path:
        app = self.workdir / "app"
        app.mkdir(exist_ok=True)
        for name in APP_FILES:
            shutil.copy2(HERE / name, app / name)
        return app

    def _flwr_home(self) -> Path:
        """``flwr``'s own directory: the one connection it needs, to our SuperLink."""
        home = self.workdir / "flwr"
        home.mkdir(exist_ok=True)
        entry = ('insecure = true\n' if self.tls is None
                 else f'root-certificates = "{self.tls.ca_cert}"\n')
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "{self.address()}"\n{entry}')
        return home

    def _maybe_kill(self) -> None:
        kill = self.opts.kill
        if kill is None or self.killed:
            return
        for event in read_jsonl(self.out / "events.jsonl"):
            if (event["event"] == "send" and event["stage"] == kill.stage
                    and str(event["round"]) == str(kill.round)):
                node = self.nodes[kill.partition]
                self.procs.kill(node.pid, signal.SIGKILL)
                self.killed.append({"partition": node.partition, "node_id": node.node_id,
                                    "pid": node.pid, "round": kill.round, "stage": kill.stage,
                                    "time": time.time()})
                self._say(f"killed SuperNode {node.partition} (pid {node.pid}, node id "
                          f"{node.node_id}) as round {kill.round} sent {kill.stage}")
                self._save()
                return

    # -- reports ------------------------------------------------------------------------------

    def _save(self) -> None:
        """What the federation was, for tests and people: ``out/federation.json``."""
        info = {
            "address": self.address(), "tls": self.tls is not None,
            "malicious": self.opts.malicious, "secure_aggregation": self.opts.secure_aggregation,
            "nodes": [vars(n) for n in self.nodes], "killed": self.killed,
            "cpu_seconds": sum(self.cpu.values()), "cpu_seconds_by_process": self.cpu,
        }
        (self.out / "federation.json").write_text(json.dumps(info, indent=1))

    def _report(self) -> None:
        fits = read_jsonl(self.out / "fit.jsonl")
        evals = {e["round"]: e for e in read_jsonl(self.out / "evaluate.jsonl")}
        self._say("round   fit s   sent kB   received kB   nodes   accuracy")
        for fit in fits:
            acc = evals.get(fit["round"], {}).get("accuracy")
            self._say(f"{fit['round']:>5}  {fit['seconds']:6.1f}  {fit['bytes_sent'] / 1e3:8.1f}"
                      f"  {fit['bytes_received'] / 1e3:12.1f}  {len(fit['survivors']):>2}/"
                      f"{len(fit['sampled']):<2}   "
                      f"{'-' if acc is None else f'{acc:.3f}'}")

    def _say(self, text: str) -> None:
        print(f"[deploy] {text}", flush=True)

    # -- waiting ------------------------------------------------------------------------------

    def _wait_log(self, label: str, proc, pattern: str, timeout: float) -> re.Match:
        path = self.procs.log(label)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = path.read_text(errors="replace") if path.exists() else ""
            match = re.search(pattern, text)
            if match:
                return match
            if proc is not None and proc.poll() is not None:
                raise DeployError(f"{label} exited ({proc.returncode}); see {path}")
            time.sleep(0.1)
        raise DeployError(f"{label} did not log {pattern!r} within {timeout:.0f} s; see {path}")

    def _wait_activated(self, count: int, timeout: float) -> None:
        path = self.procs.log("superlink")
        end = time.monotonic() + timeout
        found: set[str] = set()
        while time.monotonic() < end:
            found = set(re.findall(r"Activated node_id=(\d+)", path.read_text(errors="replace")))
            if len(found) >= count:
                return
            time.sleep(0.2)
        raise DeployError(f"only {len(found)} of {count} SuperNodes connected in {timeout:.0f} s")

    def stop(self) -> None:
        forced = self.procs.stop_all()
        self.procs.save(self.workdir / "processes.json")
        if forced:
            self._say(f"{len(forced)} process(es) needed SIGKILL: "
                      + ", ".join(f"{t.label} ({t.pid})" for t in forced))
        left = self.procs.alive()
        if left:
            self._say("STILL RUNNING: " + ", ".join(f"{t.label} ({t.pid})" for t in left))
        else:
            self._say("all processes stopped")


def _toml(values: dict[str, object]) -> str:
    """Flower's ``key=value`` list (node and run config): TOML values, space-separated."""
    return " ".join(f"{k}={json.dumps(v) if not isinstance(v, bool) else str(v).lower()}"
                    for k, v in values.items())


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read on a thread (None at the end)."""
    out: queue.Queue = queue.Queue()

    def pump() -> None:
        for raw in iter(proc.stdout.readline, b""):
            out.put(raw.decode(errors="replace"))
        out.put(None)

    threading.Thread(target=pump, name="flwr-output", daemon=True).start()
    return out


def _reaped_cpu() -> float:
    """CPU seconds of our children that have ended (``flwr run``, a killed SuperNode)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_jsonl(path: Path) -> list[dict]:
    """The complete lines of a JSON-lines file that may still be written to."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


# -- command line ---------------------------------------------------------------------------


def run_federation(opts: Options) -> tuple[int, Path]:
    """Bring the federation up, run the app, tear everything down; (status, work dir)."""
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="secagg-federation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fed = Federation(opts, workdir)
    status = 1
    try:
        fed.start()
        status = fed.run()
    except DeployError as exc:
        fed._say(f"failed: {exc}")
    except KeyboardInterrupt:
        fed._say("interrupted")
        status = 130
    finally:
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            fed.stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if status == 0 and opts.workdir is None and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif status != 0 or opts.keep:
        fed._say(f"logs and outputs kept in {workdir}")
    return status, workdir


def _parse(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=4, help="SuperNodes on this machine (4)")
    p.add_argument("--remote-nodes", type=int, default=0,
                   help="SuperNodes of other machines to wait for (see README)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the app (3)")
    p.add_argument("--host", default="127.0.0.1",
                   help="SuperLink's interface (127.0.0.1; 0.0.0.0 for other machines)")
    p.add_argument("--port", type=int, default=9600, help="SuperLink's port (9600)")
    p.add_argument("--node-port", type=int, default=9610,
                   help="runtime API port of SuperNode 0; node i uses this + i (9610)")
    p.add_argument("--tls-name", action="append", default=[], metavar="NAME",
                   help="a host name or IP other machines reach the SuperLink by (repeatable)")
    p.add_argument("--insecure", action="store_true",
                   help="no TLS between SuperLink and SuperNodes (not for real data)")
    p.add_argument("--malicious", action="store_true",
                   help="malicious mode: nodes hold Ed25519 signing keys, 5 stages per round")
    p.add_argument("--secure-aggregation", choices=("secagg", "flower"), default="secagg",
                   help="whose SecAgg+ the run uses (secagg)")
    p.add_argument("--kill", type=Kill.parse, metavar="P@R:STAGE",
                   help="SIGKILL SuperNode P when round R sends STAGE, e.g. 1@2:masked_input")
    p.add_argument("--run-config", default="", metavar="'K=V ...'",
                   help="more run config (TOML values), e.g. 'stage-timeout=20.0'")
    p.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir, "
                   "removed after a successful run)")
    p.add_argument("--keep", action="store_true", help="keep the temp work directory")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="give up after this many seconds of run (900)")
    p.add_argument("--quiet", action="store_true", help="do not stream the ServerApp's log")
    p.add_argument("--compare-flower", action="store_true",
                   help="measure ours against Flower's SecAgg+ on identical federations")
    p.add_argument("--repeat", type=int, default=1, help="runs of each for --compare-flower")
    args = p.parse_args(argv)
    if args.nodes < 0 or args.nodes + args.remote_nodes < 2:
        p.error("a round needs at least 2 SuperNodes")
    if args.kill is not None and not 0 <= args.kill.partition < args.nodes:
        p.error("--kill names a SuperNode of this machine: 0 .. nodes-1")
    if args.malicious and args.secure_aggregation == "flower":
        p.error("Flower's SecAgg+ has no malicious mode")
    if args.malicious and args.remote_nodes:
        p.error("--malicious with --remote-nodes: build the verify-key file by hand (README)")
    opts = Options(
        nodes=args.nodes, remote_nodes=args.remote_nodes, rounds=args.rounds, host=args.host,
        port=args.port, node_port=args.node_port, tls_names=tuple(args.tls_name),
        insecure=args.insecure, malicious=args.malicious,
        secure_aggregation=args.secure_aggregation, kill=args.kill,
        run_config=_parse_config(args.run_config), workdir=args.workdir, keep=args.keep,
        timeout=args.timeout, quiet=args.quiet,
    )
    return opts, args


def _parse_config(text: str) -> dict[str, object]:
    """``'k=v k2="s"'`` as TOML (values without spaces)."""
    return tomllib.loads("\n".join(text.split())) if text.strip() else {}



def _interrupted(signum, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt  # SIGTERM (and SIGINT) tear down like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    opts, args = _parse(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job ignores it
        signal.signal(sig, _interrupted)
    if args.compare_flower:
        from compare import compare

        return compare(opts, args.repeat)
    return run_federation(opts)[0]


if __name__ == "__main__":
    sys.modules.setdefault("deploy", sys.modules["__main__"])  # compare.py imports us
    raise SystemExit(main())
