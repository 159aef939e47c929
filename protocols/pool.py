"""``ClientPool``: a simulated round's clients spread over worker processes.

Real clients each run on a device of their own; a driver that runs them one after another uses
one core of the machine. A pool starts worker processes that each build and run a share of the
round's clients; the server stays in the calling process and exchanges only the protocol's bytes
with them, as a network would, so the state machines are exactly the ones a deployment runs. A
client's secrets never leave its worker; each worker draws from its own CSPRNG and gets its share
of the machine's cores as mask threads. The pipe carries plain framed bytes (the config in its
versioned codec, messages, ids, raw input vectors), nothing pickled. Worker start-up (imports, compiled kernels) happens when the pool is
made, before any round's clock runs.

Within a stage the driver sends each worker its clients' messages in chunks, two in flight, and
hands replies to the server as they come back, so the server works while the workers compute.
"""

from __future__ import annotations

import os
import queue
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from secagg.errors import AbortError, EncodingError
from secagg.masking import usable_cpus

#: Clients per message to a worker: big enough to amortise the framing, small enough to overlap.
CHUNK = 64
#: Chunks in flight per worker: one computing, one waiting.
IN_FLIGHT = 2
#: The protocols a pool can host (a worker imports the one a round names).
KINDS = ("secagg",)

#: A task: (client id, the server's message or None, the input vector or None).
Task = tuple[int, bytes | None, np.ndarray | None]
#: A reply: (client id, reply bytes or None if the client went silent, client seconds).
Reply = tuple[int, bytes | None, float]

_NONE = 0xFFFFFFFF  # length of an absent message or vector
_U32 = struct.Struct("<I")
_REPLY = struct.Struct("<IdI")


class WorkerError(RuntimeError):
    """A pool worker failed: a client raised something other than ``AbortError`` (its traceback
    is the message), or the worker exited."""


def default_processes() -> int:
    """One worker per CPU this process may use (the server shares them)."""
    return max(1, usable_cpus())


class ClientPool:
    """Worker processes that host a round's clients; use as a context manager (or ``close``)."""

    def __init__(self, processes: int | None = None) -> None:
        count = default_processes() if processes is None else processes
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"processes must be an integer >= 1, got {processes!r}")
        self._conns: list[Connection] = []
        self._procs: list[subprocess.Popen] = []
        self._owner: dict[int, int] = {}
        self.verify_keys: dict[int, bytes] | None = None
        try:
            threads = max(1, default_processes() // count)  # the machine's cores, shared out
            for _ in range(count):
                proc, conn = _start_worker(threads)
                self._procs.append(proc)
                self._conns.append(conn)
            self._gather(b"R")
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        """How many worker processes host clients."""
        return len(self._conns)

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (each by its own process handle) and wait for them."""
        for conn in self._conns:
            try:
                conn.send_bytes(b"S")
            except OSError:
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()  # by its own handle, i.e. its PID
                proc.wait()
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []

    # --- a round --------------------------------------------------------------------------------

    def open_round(self, kind: str, config: Any) -> None:
        """Make the round's clients in the workers, round-robin over the sorted ids. In
        malicious mode each worker makes its clients' signing keys and every worker gets the
        verify keys of all (also kept as :attr:`verify_keys` for the server)."""
        if kind not in KINDS:
            raise ValueError(f"a pool hosts {KINDS}, not {kind!r}")
        if not self._conns:
            raise RuntimeError("the pool is closed")
        ids = sorted(config.client_ids)
        self._owner = {u: i % self.processes for i, u in enumerate(ids)}
        blob = config.to_bytes()
        for w, conn in enumerate(self._conns):
            conn.send_bytes(b"K" + _name(kind) + _U32.pack(len(blob)) + blob
                            + _ids(ids[w :: self.processes]))
        verify: dict[int, bytes] = {}
        for body in self._gather(b"k"):
            verify.update(_read_keys(body))
        self.verify_keys = verify if getattr(config, "malicious", False) else None
        shared = b"C" + _keys(self.verify_keys or {})
        for conn in self._conns:
            conn.send_bytes(shared)
        self._gather(b"c")

    def _gather(self, kind: bytes) -> list[memoryview]:
        """One ``kind`` frame from every worker; all are read before the first error is raised,
        so no reply is left behind in a pipe."""
        bodies, errors = [], []
        for conn in self._conns:
            try:
                bodies.append(_expect(conn, kind))
            except WorkerError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return bodies

    def run_stage(self, tasks: Sequence[tuple[int, bytes | None]],
                  vector: Callable[[int], np.ndarray] | None = None) -> Iterator[Reply]:
        """Every task's reply, in the order they come back. A task is (client, the server's
        message or None); ``vector(u)``, if given, is called as u's chunk is sent (so at most a
        few chunks of vectors exist at once) and goes along with the message. Clients not named
        in ``tasks`` are dropped from their worker (silent or done: never addressed again)."""
        queues: list[list[tuple[int, bytes | None]]] = [[] for _ in self._conns]
        for task in tasks:
            queues[self._owner[task[0]]].append(task)
        for conn, mine in zip(self._conns, queues, strict=True):
            conn.send_bytes(b"P" + _ids([t[0] for t in mine]))
        chunks = [[q[i : i + CHUNK] for i in range(0, len(q), CHUNK)][::-1] for q in queues]
        busy = [0] * self.processes

        def send(w: int) -> None:
            chunk = chunks[w].pop()
            self._conns[w].send_bytes(
                _work([(u, msg, None if vector is None else vector(u)) for u, msg in chunk]))
            busy[w] += 1

        try:
            for w in range(self.processes):
                while busy[w] < IN_FLIGHT and chunks[w]:
                    send(w)
            while any(busy):
                for ready in wait([c for c, b in zip(self._conns, busy, strict=True) if b]):
                    w = self._conns.index(ready)  # type: ignore[arg-type]
                    busy[w] -= 1
                    replies = _read_replies(_expect(self._conns[w], b"D"))
                    if chunks[w]:
                        send(w)
                    yield from replies
        finally:  # an error here or in the caller: read what is in flight, so the pool stays usable
            self._drain(busy)

    def _drain(self, busy: list[int]) -> None:
        for conn, count in zip(self._conns, busy, strict=True):
            for _ in range(count):
                try:
                    conn.recv_bytes()
                except (EOFError, OSError):
                    break

    def peak_rss(self) -> int:
        """The sum of the workers' peak resident memory in bytes (``ru_maxrss``): with the
        driver's own, a bound on what a round took."""
        for conn in self._conns:
            conn.send_bytes(b"M")
        return sum(_U32.unpack_from(body, 0)[0] * 1024 for body in self._gather(b"m"))


# --- framing --------------------------------------------------------------------------------------


def _name(kind: str) -> bytes:
    raw = kind.encode()
    return bytes((len(raw),)) + raw


def _ids(ids: Sequence[int]) -> bytes:
    return _U32.pack(len(ids)) + np.asarray(ids, dtype="<u4").tobytes()


def _read_ids(data: memoryview, at: int) -> tuple[list[int], int]:
    (count,) = _U32.unpack_from(data, at)
    end = at + 4 + 4 * count
    return np.frombuffer(data[at + 4 : end], dtype="<u4").tolist(), end


def _keys(keys: dict[int, bytes]) -> bytes:
    return _U32.pack(len(keys)) + b"".join(_U32.pack(u) + k for u, k in keys.items())


def _read_keys(data: memoryview) -> dict[int, bytes]:
    (count,) = _U32.unpack_from(data, 0)
    return {_U32.unpack_from(data, 4 + 36 * i)[0]: bytes(data[8 + 36 * i : 40 + 36 * i])
            for i in range(count)}


def _blob(data: bytes | None) -> bytes:
    return _U32.pack(_NONE) if data is None else _U32.pack(len(data)) + data


def _read_blob(data: memoryview, at: int) -> tuple[bytes | None, int]:
    (size,) = _U32.unpack_from(data, at)
    if size == _NONE:
        return None, at + 4
    return bytes(data[at + 4 : at + 4 + size]), at + 4 + size


def _work(tasks: Sequence[Task]) -> bytes:
    parts = [b"W", _U32.pack(len(tasks))]
    for u, msg, x in tasks:
        parts += [_U32.pack(u), _blob(msg)]
        if x is None:
            parts.append(b"\x00")
        else:
            arr = np.asarray(x)
            if arr.ndim != 1:  # what the client would say: the wire carries vectors only
                raise EncodingError(f"input of client {u} must be a vector, not shape {arr.shape}")
            parts += [_name(arr.dtype.str), _blob(np.ascontiguousarray(arr).tobytes())]
    return b"".join(parts)


def _read_work(data: memoryview) -> list[Task]:
    (count,) = _U32.unpack_from(data, 1)
    at, out = 5, list[Task]()
    for _ in range(count):
        (u,) = _U32.unpack_from(data, at)
        msg, at = _read_blob(data, at + 4)
        x = None
        size = data[at]
        if size:
            dtype = np.dtype(bytes(data[at + 1 : at + 1 + size]).decode())
            raw, at = _read_blob(data, at + 1 + size)
            x = np.frombuffer(raw or b"", dtype=dtype)
        else:
            at += 1
        out.append((u, msg, x))
    return out


def _replies(replies: Sequence[Reply]) -> bytes:
    parts = [b"D", _U32.pack(len(replies))]
    for u, reply, secs in replies:
        parts.append(_REPLY.pack(u, secs, _NONE if reply is None else len(reply)))
        if reply is not None:
            parts.append(reply)
    return b"".join(parts)


def _read_replies(data: memoryview) -> list[Reply]:
    (count,) = _U32.unpack_from(data, 0)
    at, out = 4, list[Reply]()
    for _ in range(count):
        u, secs, size = _REPLY.unpack_from(data, at)
        at += _REPLY.size
        if size == _NONE:
            out.append((u, None, secs))
        else:
            out.append((u, bytes(data[at : at + size]), secs))
            at += size
    return out


def _expect(conn: Connection, kind: bytes) -> memoryview:
    """The body of the worker's next frame, which must be ``kind`` (else its error)."""
    try:
        frame = conn.recv_bytes()
    except EOFError as exc:
        raise WorkerError("a pool worker exited") from exc
    if frame[:1] == b"E":
        raise WorkerError(frame[1:].decode(errors="replace"))
    if frame[:1] != kind:
        raise WorkerError(f"pool worker sent {frame[:1]!r}, expected {kind!r}")
    return memoryview(frame)[1:]


# --- the worker side ------------------------------------------------------------------------------


def _start_worker(threads: int) -> tuple[subprocess.Popen, Connection]:
    """A fresh interpreter running this module, talking over one end of a socket pair (a new
    process: nothing inherited from the driver but the environment, and no re-import of the
    caller's script)."""
    ours, theirs = socket.socketpair()
    root = str(Path(__file__).resolve().parent.parent)  # the directory holding ``protocols``
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen([sys.executable, "-c", _WORKER_MAIN, str(theirs.fileno()),
                                 str(threads)],
                                pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL)
    finally:
        theirs.close()
    return proc, Connection(ours.detach())


_WORKER_MAIN = ("import sys; from protocols.pool import serve; "
                "serve(int(sys.argv[1]), int(sys.argv[2]))")


def serve(fd: int, threads: int) -> None:
    """A worker's main: serve the driver on the socket ``fd`` until it says stop."""
    _worker_main(Connection(fd), threads)


def _worker_main(conn: Connection, threads: int) -> None:
    """A worker with at most ``threads`` mask threads. Frames arrive through a reader thread (so
    the driver never blocks on a full pipe while this process writes replies) and are handled
    one at a time."""
    from protocols.secagg.simulate import warm_up
    from secagg.masking import limit_threads

    limit_threads(threads)
    warm_up()
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read_into, args=(conn, inbox), daemon=True).start()
    state = _WorkerState()
    conn.send_bytes(b"R")
    while True:
        frame = inbox.get()
        if frame is None or frame[:1] == b"S":
            return
        try:
            out = state.handle(frame)
        except BaseException:  # noqa: BLE001 - the driver raises it, with this traceback
            out = b"E" + traceback.format_exc().encode()
        if out is not None:
            conn.send_bytes(out)


def _read_into(conn: Connection, inbox: queue.SimpleQueue) -> None:
    try:
        while True:
            inbox.put(conn.recv_bytes())
    except (EOFError, OSError):
        inbox.put(None)


def _client_maker(kind: str) -> tuple[Callable[[bytes], Any], Callable[..., Any]]:
    """(config decoder, client class) of a protocol the pool hosts."""
    if kind == "secagg":
        from protocols.secagg.client import SecAggClient
        from protocols.secagg.config import SecAggConfig

        return SecAggConfig.from_bytes, SecAggClient
    raise ValueError(f"a pool hosts {KINDS}, not {kind!r}")


class _WorkerState:
    """The clients one worker hosts in the current round."""

    def __init__(self) -> None:
        self.config: Any = None
        self.make: Callable[..., Any] | None = None
        self.signing: dict[int, Any] = {}
        self.clients: dict[int, Any] = {}

    def handle(self, frame: bytes) -> bytes | None:
        data, kind = memoryview(frame), frame[:1]
        if kind == b"K":
            return self._open(data)
        if kind == b"C":
            verify = _read_keys(data[1:]) or None
            assert self.make is not None
            self.clients = {u: self.make(self.config, u, key, verify)
                            for u, key in self.signing.items()}
            self.signing = {}
            return b"c"
        if kind == b"P":
            keep = set(_read_ids(data, 1)[0])
            self.clients = {u: c for u, c in self.clients.items() if u in keep}
            return None
        if kind == b"W":
            return _replies([self._respond(*task) for task in _read_work(data)])
        if kind == b"M":  # peak memory, in KiB as ru_maxrss gives it on Linux
            return b"m" + _U32.pack(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        raise ValueError(f"unknown pool frame {bytes(kind)!r}")

    def _open(self, data: memoryview) -> bytes:
        from secagg.keys import SigningKeyPair

        size = data[1]
        decode, self.make = _client_maker(bytes(data[2 : 2 + size]).decode())
        (length,) = _U32.unpack_from(data, 2 + size)
        start = 6 + size
        self.config, self.clients = decode(bytes(data[start : start + length])), {}
        ids, _ = _read_ids(data, start + length)
        malicious = getattr(self.config, "malicious", False)
        self.signing = {u: SigningKeyPair.generate() if malicious else None for u in ids}
        return b"k" + _keys({u: k.verify_key_bytes for u, k in self.signing.items()
                             if k is not None})

    def _respond(self, u: int, message: bytes | None, x: np.ndarray | None) -> Reply:
        start = time.perf_counter()
        try:
            reply = self.clients[u].respond(message, x)
        except AbortError:
            reply = None  # this client gives up: to the server it has dropped out
        return u, reply, time.perf_counter() - start

