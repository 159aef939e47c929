"""``StageGuard``: the node-local, atomic record that each stage of a session is answered once.

Why not the Context: Flower does not serialise a node's messages. Simulation workers load the
node's stored Context when they pick a message up and store it back when done (last writer
wins), and the deployment runtime pulls and pushes it the same way, so two copies of one stage
message delivered together both find "not answered yet" in their Context. A node that answers
``masked_input`` twice under the same masks, or ``unmask`` for two survivor sets, gives its
input away. The guard is therefore a file system record, taken before anything is computed:
answering ``advertise_keys`` creates the session's directory (``mkdir``, atomic), and every
later stage creates its marker in it with ``O_CREAT | O_EXCL``. Of any number of concurrent
threads or processes exactly one succeeds; the others get ``OutOfOrder``. A stage whose
computation then fails stays answered (fail closed).

Where it lives, in this order: the node config key ``secagg-state-dir``
(``flower-supernode --node-config "secagg-state-dir='/var/lib/secagg'"``), the environment
variable ``SECAGG_STATE_DIR``, or ``$XDG_STATE_HOME/secagg/flower`` (``~/.local/state/...``).
Never the run config: whoever submits the run writes that, and pointing a node at a fresh
directory would make it forget every answer. The directory must be on the node and shared by
all of its ClientApp processes (under process isolation in containers: one volume). In
simulation all nodes share one machine; entries are prefixed with the node id. The directory
must belong to the node's user and be writable by no one else, or the node refuses to answer.

Cleanup: a new session sweeps (at most once an hour per directory, so a large simulation does
not scan it for every node) the entries untouched for ``secagg-state-retention-days`` (node
config, default 7). A swept session's directory is renamed away atomically before it is
deleted, so a later message for it finds no directory and is refused; only a new
``advertise_keys`` (new keys) can open that session id again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from secagg.errors import LocalError, OutOfOrder

STATE_DIR_KEY = "secagg-state-dir"  # node config
RETENTION_KEY = "secagg-state-retention-days"  # node config
STATE_DIR_ENV = "SECAGG_STATE_DIR"
DEFAULT_RETENTION_DAYS = 7.0
_TRASH = ".expired-"
_STAMP = ".last-sweep"
_TOKEN = "token"  # in a session's record: the value every claim of the session must present
SWEEP_INTERVAL = 3600.0  # seconds between sweeps of one directory
_STAGE_NAME = re.compile(r"[a-z_]{1,64}")
_OURS = re.compile(r"(?:-?[0-9]+\.[0-9a-f]{64}|\.expired-[0-9a-f]{16})")  # never touch others


class StageGuard:
    """Claims (session, stage) pairs for one node in ``root``; each pair can be claimed once."""

    def __init__(self, root: Path | str, node_id: int, *,
                 retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        if not retention_days > 0:
            raise ValueError(f"retention_days must be > 0, got {retention_days!r}")
        self.root = Path(root)
        self.node_id = int(node_id)
        self.retention = float(retention_days) * 86400.0

    @classmethod
    def for_node(cls, node_id: int, node_config: Mapping[str, object]) -> StageGuard:
        """The guard of one node, placed by its node config or environment (see module doc)."""
        root = node_config.get(STATE_DIR_KEY) or os.environ.get(STATE_DIR_ENV) or _default_root()
        days = node_config.get(RETENTION_KEY, DEFAULT_RETENTION_DAYS)
        if not isinstance(root, str | Path) or isinstance(days, bool) \
                or not isinstance(days, int | float):
            raise LocalError(f"node config {STATE_DIR_KEY} must be a path and {RETENTION_KEY} "
                             "a number")
        return cls(root, node_id, retention_days=float(days))

    def open_session(self, session_id: bytes) -> bytes:
        """Claim ``advertise_keys`` of a session (and sweep expired ones); ``OutOfOrder`` if it
        was claimed before. Returns the session's token: a fresh random value kept in the
        session's record, which every later claim must present. A record swept and opened
        again gets a new token, so round state kept from before (a stale Context) is dead."""
        self._checked_root()
        where = self._session_dir(session_id)
        try:
            os.mkdir(where, 0o700)
        except FileExistsError:
            raise OutOfOrder("this node has already joined this session") from None
        token = secrets.token_bytes(16)
        fd = os.open(where / _TOKEN, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(token)
        if self._sweep_due():
            self.sweep()
        return token

    def claim(self, session_id: bytes, stage: str, token: bytes) -> None:
        """Claim ``stage`` of a session this node joined; ``OutOfOrder`` if it was claimed
        before, the node has no record of the session, or ``token`` is not the one the record
        was opened with."""
        if not _STAGE_NAME.fullmatch(stage) or stage == _TOKEN:
            raise ValueError(f"not a stage name: {stage!r}")
        self._check_token(session_id, token)
        path = self._session_dir(session_id) / stage
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise OutOfOrder(f"stage {stage} of this session was already answered") from None
        except FileNotFoundError:
            raise OutOfOrder("this node has no record of this session") from None
        os.close(fd)

    def token(self, session_id: bytes) -> bytes:
        """The token of a session's record, for the node's own tools and tests (the mod
        presents the one its round state kept, never this)."""
        try:
            return (self._session_dir(session_id) / _TOKEN).read_bytes()
        except FileNotFoundError:
            raise OutOfOrder("this node has no record of this session") from None

    def _check_token(self, session_id: bytes, token: bytes) -> None:
        kept = self.token(session_id)
        if not isinstance(token, bytes) or not hmac.compare_digest(kept, token):
            raise OutOfOrder("the round state does not belong to this node's record of the "
                             "session (it was swept and opened again)")

    def sweep(self, now: float | None = None) -> int:
        """Delete the sessions untouched for the retention period; returns how many."""
        cutoff = (time.time() if now is None else now) - self.retention
        swept = 0
        for entry in os.scandir(self.root):
            if not _OURS.fullmatch(entry.name):
                continue
            if entry.name.startswith(_TRASH):
                shutil.rmtree(entry.path, ignore_errors=True)  # an earlier sweep's leftovers
            elif _expired(entry, cutoff):
                trash = self.root / f"{_TRASH}{secrets.token_hex(8)}"
                try:
                    os.rename(entry.path, trash)  # atomic: later claims find no directory
                except FileNotFoundError:
                    continue  # another process swept it first
                shutil.rmtree(trash, ignore_errors=True)
                swept += 1
        return swept

    def _sweep_due(self) -> bool:
        """True (and the stamp renewed) when the last sweep of this directory is an hour old."""
        stamp = self.root / _STAMP
        try:
            if time.time() - stamp.stat().st_mtime < SWEEP_INTERVAL:
                return False
        except FileNotFoundError:
            pass
        stamp.touch()
        return True

    def _session_dir(self, session_id: bytes) -> Path:
        digest = hashlib.sha256(bytes(session_id)).hexdigest()
        return self.root / f"{self.node_id}.{digest}"

    def _checked_root(self) -> None:
        """Create the root (0700) and refuse one that another user owns or may write."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.root.stat()
        if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
            raise LocalError(f"the secure-aggregation state directory {self.root} must belong to "
                             "this user and be writable by no one else")


def _expired(entry: os.DirEntry, cutoff: float) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _default_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "secagg" / "flower"
