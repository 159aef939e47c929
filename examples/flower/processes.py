"""The processes of a local federation: started, followed through /proc, stopped by PID.

Flower's components start helpers of their own: the SuperLink a ``flower-superexec`` (in a
session of its own, so a process group does not reach it), which starts the ``flwr-serverapp``;
each SuperNode a ``flower-superexec`` that starts a ``flwr-clientapp`` per message. A helper
outlives a parent that was killed, and is then re-parented and hard to find. So a thread scans
/proc several times a second and remembers every descendant of what we started, with its start
time (a PID that is reused later is not ours), and ``stop_all`` signals each of them by PID:
SIGTERM, then SIGKILL after a grace period. Linux only (/proc).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SCAN_INTERVAL = 0.2  # seconds between /proc scans


@dataclass(frozen=True)
class Tracked:
    """A process we started or one of its descendants."""

    pid: int
    start: int  # start time in clock ticks since boot (/proc/<pid>/stat, field 22)
    label: str


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()  # after "pid (comm) "
    return fields[0].decode(), int(fields[1]), int(fields[19])


def _process_table() -> dict[int, tuple[str, int, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                table[int(entry)] = info
    return table


class ProcessGroup:
    """Starts processes with their output in ``log_dir``, and follows their descendants."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env = log_dir, env
        log_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._known: dict[int, Tracked] = {}
        self._popens: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="proc-watch", daemon=True)
        self._thread.start()

    def start(self, label: str, argv: list[str], *, pipe: bool = False,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``argv`` in a session of its own (Ctrl-C in the terminal reaches only us, and
        we stop everything in order), with ``env`` added to the group's environment. Output
        goes to ``log_dir/label.log``, or to a pipe."""
        out = subprocess.PIPE if pipe else open(self.log_dir / f"{label}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env={**self.env, **(env or {})}, start_new_session=True)
        if not pipe:
            out.close()  # the child holds its own descriptor
        info = _stat(proc.pid)
        with self._lock:
            self._popens.append(proc)
            if info is not None:
                self._known[proc.pid] = Tracked(proc.pid, info[2], label)
        return proc

    def log(self, label: str) -> Path:
        return self.log_dir / f"{label}.log"

    def follow(self) -> None:
        """Remember every live descendant of a process we know (one /proc scan)."""
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (_, ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        with self._lock:
            todo = [t for t in self._known.values() if self._is_alive(t, table)]
            while todo:
                parent = todo.pop()
                for pid in children.get(parent.pid, ()):
                    if pid not in self._known or self._known[pid].start != table[pid][2]:
                        child = Tracked(pid, table[pid][2], f"{parent.label}/{pid}")
                        self._known[pid] = child
                        todo.append(child)

    @staticmethod
    def _is_alive(t: Tracked, table: dict[int, tuple[str, int, int]] | None = None) -> bool:
        info = table.get(t.pid) if table is not None else _stat(t.pid)
        return info is not None and info[2] == t.start and info[0] != "Z"

    def alive(self) -> list[Tracked]:
        """Every process of ours still running (zombies count as gone)."""
        self._reap()
        with self._lock:
            return [t for t in self._known.values() if self._is_alive(t)]

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds of every live process of ours, with what the children each
        of them has reaped used (a SuperNode's superexec reaps its ClientApp processes), summed
        by the process we started (``superlink``, ``supernode-0``, ...)."""
        ticks: dict[str, int] = {}
        for t in self.alive():
            try:
                with open(f"/proc/{t.pid}/stat", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            fields = data[data.rindex(b")") + 2 :].split()
            root = t.label.split("/")[0]
            ticks[root] = ticks.get(root, 0) + sum(int(x) for x in fields[11:15])
        hz = os.sysconf("SC_CLK_TCK")
        return {label: n / hz for label, n in sorted(ticks.items())}

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal one process of ours by PID."""
        self.follow()
        with self._lock:
            t = self._known.get(pid)
        if t is None or not self._is_alive(t):
            raise ProcessLookupError(f"process {pid} is not one of ours or has ended")
        os.kill(pid, sig)

    def stop_all(self, grace: float = 10.0) -> list[Tracked]:
        """SIGTERM to every process of ours, SIGKILL to those still running after ``grace``
        seconds; returns the ones that had to be killed."""
        self.follow()
        signalled: set[int] = set()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            running = self.alive()
            if not running:
                break
            for t in running:
                if t.pid not in signalled:
                    _signal(t.pid, signal.SIGTERM)
                    signalled.add(t.pid)
            time.sleep(0.1)
            self.follow()
        forced = self.alive()
        for t in forced:
            _signal(t.pid, signal.SIGKILL)
        end = time.monotonic() + 5.0
        while self.alive() and time.monotonic() < end:
            time.sleep(0.05)
        self._stop.set()
        return forced

    def save(self, path: Path) -> None:
        """Every process we ever knew, for a caller that wants to check they are gone."""
        with self._lock:
            path.write_text(json.dumps([asdict(t) for t in self._known.values()], indent=1))

    def _reap(self) -> None:
        with self._lock:
            for proc in self._popens:
                proc.poll()

    def _watch(self) -> None:
        while not self._stop.wait(SCAN_INTERVAL):
            try:
                self.follow()
            except Exception:  # noqa: BLE001 - a failed scan is retried; teardown rescans
                continue


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def still_running(saved: Path) -> list[Tracked]:
    """The processes listed by ``ProcessGroup.save`` that are still running."""
    tracked = [Tracked(**t) for t in json.loads(saved.read_text())]
    return [t for t in tracked if ProcessGroup._is_alive(t)]
