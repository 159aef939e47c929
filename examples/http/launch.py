"""Run one round of the HTTP example: a server and N clients as processes on 127.0.0.1.

    python examples/http/launch.py --clients 5 --length 1000 --drop 5:masked_input
    python examples/http/launch.py --clients 6 --malicious

It writes each client's input (with --malicious also the PKI: a signing key per client and the
directory of verify keys) under a work directory, binds a port the OS picks and hands the
listening socket to the server, starts the clients, waits for them, fetches the result, checks it against the inputs of U3, and
stops whatever is still running, by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import pki
import routes

HERE = Path(__file__).resolve().parent


class RoundFailed(RuntimeError):
    """The round did not run to a result; the message ends with the processes' logs."""


@dataclass(frozen=True)
class Outcome:
    """What one launched round gave."""

    result: dict  # the server's GET /result: included (U3), sum, modulus_bits
    inputs: dict[int, np.ndarray]
    exit_codes: dict[int, int]  # by client id
    seconds: float

    @property
    def expected(self) -> np.ndarray:
        """The sum of U3's inputs mod 2^b, computed here from the inputs in the clear."""
        total = np.zeros(len(next(iter(self.inputs.values()))), dtype=object)
        for u in self.result["included"]:
            total = total + self.inputs[u].astype(object)
        return total % (1 << self.result["modulus_bits"])

    @property
    def correct(self) -> bool:
        """Whether the server's sum is the sum of U3's inputs."""
        return list(self.expected) == self.result["sum"]


def write_inputs(directory: Path, client_ids: range, length: int) -> dict[int, np.ndarray]:
    """One random vector of 32-bit values per client, as .npy files (the clients' data)."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs = {}
    for cid in client_ids:
        inputs[cid] = np.frombuffer(os.urandom(4 * length), dtype="<u4").copy()
        np.save(directory / f"client-{cid}.npy", inputs[cid], allow_pickle=False)
    return inputs


def run_round(
    workdir: Path,
    *,
    clients: int = 5,
    length: int = 1000,
    drops: Mapping[int, str] | None = None,
    malicious: bool = False,
    stage_timeout: float = 3.0,
    join_timeout: float = 60.0,
    timeout: float = 120.0,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Start one server and ``clients`` clients, wait for the round, fetch the result, and stop
    every process left, by PID, whatever happened. ``drops`` maps a client id to the stage it
    exits before."""
    workdir = Path(workdir)
    ids = range(1, clients + 1)
    inputs = write_inputs(workdir / "inputs", ids, length)
    mode = ["--pki", str(workdir / "pki")] if malicious else []
    if malicious:
        pki.enroll(workdir / "pki", ids)  # the PKI step, before anything starts
    server_flags = ["--clients", str(clients), "--length", str(length),
                    "--join-timeout", str(join_timeout), "--stage-timeout", str(stage_timeout),
                    "--linger", str(timeout), *(["--malicious"] if malicious else []), *mode]
    started = time.monotonic()
    deadline = started + timeout
    procs: list[subprocess.Popen] = []
    logs: list[IO[str]] = []
    try:
        url = _start_server(workdir, server_flags, procs, logs)
        log(f"server (pid {procs[0].pid}) on {url}")
        running = {}
        for cid in ids:
            drop = ["--drop-before", drops[cid]] if drops and cid in drops else []
            running[cid] = _start(workdir, f"client-{cid}", [
                "client.py", "--server", url, "--id", str(cid), "--timeout", str(timeout),
                "--input", str(workdir / "inputs" / f"client-{cid}.npy"), *mode, *drop,
            ], procs, logs)
        codes = {cid: _wait(p, deadline, f"client {cid}") for cid, p in running.items()}
        result = _fetch_result(url, deadline)
    except (RoundFailed, httpx.HTTPError) as exc:
        raise RoundFailed(f"{exc}\n{_logs(workdir)}") from exc
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for f in logs:
            f.close()
    return Outcome(result, inputs, codes, time.monotonic() - started)


def _start_server(workdir: Path, flags: list[str], procs: list[subprocess.Popen],
                  logs: list[IO[str]]) -> str:
    """Bind port 0 here and hand the listening socket to the server: the OS picks a free port,
    we know it at once, and the clients can start with the server (their requests queue)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        _start(workdir, "server", ["server.py", "--fd", str(sock.fileno()), *flags], procs, logs,
               pass_fds=(sock.fileno(),))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _start(workdir: Path, name: str, argv: list[str], procs: list[subprocess.Popen],
           logs: list[IO[str]], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    out = open(workdir / f"{name}.log", "w")  # closed by run_round
    logs.append(out)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
    proc = subprocess.Popen([sys.executable, str(HERE / argv[0]), *argv[1:]], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            pass_fds=pass_fds)
    procs.append(proc)
    return proc


def _wait(proc: subprocess.Popen, deadline: float, name: str) -> int:
    try:
        return proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise RoundFailed(f"{name} (pid {proc.pid}) still running at the deadline") from None


def _fetch_result(url: str, deadline: float) -> dict:
    with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as http:
        while True:
            response = http.get(routes.RESULT)
            if response.status_code == 200:
                return response.json()
            if response.status_code != routes.NOT_YET:
                raise RoundFailed(f"GET {routes.RESULT}: {response.status_code} {response.text}")
            if time.monotonic() > deadline:
                raise RoundFailed("no result before the deadline")


def _stop(proc: subprocess.Popen) -> None:
    """Terminate one process we started, by its PID; kill it if it does not go."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _logs(workdir: Path) -> str:
    parts = []
    for path in sorted(workdir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()[-15:]
        parts.append(f"--- {path.name}\n" + "\n".join(lines))
    return "\n".join(parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=5, help="n (default 5)")
    p.add_argument("--length", type=int, default=1000, help="values per vector (default 1000)")
    p.add_argument("--malicious", action="store_true",
                   help="malicious-server mode, with a PKI written to the work directory")
    p.add_argument("--drop", action="append", default=[], metavar="ID:STAGE",
                   help="client ID exits before STAGE, e.g. 5:masked_input (repeatable)")
    p.add_argument("--stage-timeout", type=float, default=3.0,
                   help="the server's deadline per stage after the first (default 3 s)")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after (default 120 s)")
    p.add_argument("--workdir", type=Path, help="default: a new temporary directory (kept)")
    p.add_argument("--out", type=Path, help="write the result as JSON here")
    return p


def _drops(specs: list[str], parser: argparse.ArgumentParser) -> dict[int, str]:
    drops = {}
    stages = {s.value for s in routes.POSTABLE}
    for spec in specs:
        cid, _, stage = spec.partition(":")
        if not cid.isdigit() or stage not in stages:
            parser.error(f"--drop {spec!r}: expected ID:STAGE, STAGE one of {sorted(stages)}")
        drops[int(cid)] = stage
    return drops


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    drops = _drops(args.drop, parser)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="secagg-http-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {workdir}")
    try:
        outcome = run_round(workdir, clients=args.clients, length=args.length, drops=drops,
                            malicious=args.malicious, stage_timeout=args.stage_timeout,
                            timeout=args.timeout)
    except RoundFailed as exc:
        print(f"round failed: {exc}", file=sys.stderr)
        return 1
    print(_logs(workdir))
    included = outcome.result["included"]
    print(f"round done in {outcome.seconds:.1f} s: U3 = {included}, "
          f"sum[:5] = {outcome.result['sum'][:5]}")
    print(f"the sum of U3's inputs, computed from the inputs in the clear: "
          f"{'matches' if outcome.correct else 'DOES NOT MATCH'}")
    if args.out:
        args.out.write_text(json.dumps(outcome.result) + "\n")
    clean = all(code == 0 for code in outcome.exit_codes.values())
    return 0 if outcome.correct and clean else 1


if __name__ == "__main__":
    sys.exit(main())
