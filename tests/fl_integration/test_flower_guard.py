"""``StageGuard``: each (session, stage) of a node is claimed once, whatever runs concurrently.

Threads and separate processes race for the same claims; exactly one wins each. Also: where the
directory lives (node config, environment, default; never the run config), expiry, and the
refusal of a directory that others may write.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from fl_integration.flower.guard import StageGuard  # noqa: E402
from secagg.errors import LocalError, OutOfOrder  # noqa: E402

SESSION = bytes(range(32))
STAGES = ("share_keys", "masked_input", "unmask")


def _try(action) -> bool:
    try:
        action()
    except OutOfOrder:
        return False
    return True


def test_a_stage_is_claimed_once_and_a_session_opened_once(tmp_path):
    guard = StageGuard(tmp_path, 17)
    with pytest.raises(OutOfOrder, match="no record"):
        guard.claim(SESSION, "share_keys", b"")  # before advertise_keys
    token = guard.open_session(SESSION)
    with pytest.raises(OutOfOrder):
        guard.open_session(SESSION)
    with pytest.raises(OutOfOrder, match="does not belong"):
        guard.claim(SESSION, "share_keys", bytes(16))  # not this record's token
    guard.claim(SESSION, "share_keys", token)
    with pytest.raises(OutOfOrder, match="already answered"):
        guard.claim(SESSION, "share_keys", token)
    StageGuard(tmp_path, 18).open_session(SESSION)  # another node's record is its own


def test_one_of_many_threads_wins_each_claim(tmp_path):
    token = StageGuard(tmp_path, 1).open_session(SESSION)
    barrier = threading.Barrier(16)

    def attempt(stage: str) -> bool:
        guard = StageGuard(tmp_path, 1)
        barrier.wait()
        return _try(lambda: guard.claim(SESSION, stage, token))

    for stage in STAGES:
        with ThreadPoolExecutor(16) as pool:
            wins = list(pool.map(attempt, [stage] * 16))
        assert wins.count(True) == 1, (stage, wins)


_RACER = """
import os, sys, time
from fl_integration.flower.guard import StageGuard
from secagg.errors import OutOfOrder
root, go, ready = sys.argv[1], sys.argv[2], sys.argv[3]
guard = StageGuard(root, 5)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.0005)
for stage in ("open", "share_keys", "masked_input", "unmask"):
    try:
        if stage == "open":
            guard.open_session(bytes(range(32)))
        else:
            guard.claim(bytes(range(32)), stage, guard.token(bytes(range(32))))
        print(stage, "won", flush=True)
    except OutOfOrder:
        print(stage, "lost", flush=True)
"""


def test_one_of_many_processes_wins_each_claim(tmp_path):
    """Separate interpreters, released together, race for the session and each stage."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    ready = [tmp_path / f"ready-{i}" for i in range(6)]
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, str(tmp_path / "state"), str(go),
                          str(flag)], stdout=subprocess.PIPE, text=True, env=env)
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)  # every interpreter started and waiting at the line
    go.touch()
    outputs = [racer.communicate(timeout=60)[0].split("\n") for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    for stage in ("open", *STAGES):
        wins = sum(f"{stage} won" in lines for lines in outputs)
        # a racer that lost the session may still win a stage: the session exists either way
        assert wins == 1, (stage, outputs)


def test_expired_sessions_are_swept_and_then_refused(tmp_path):
    guard = StageGuard(tmp_path, 3, retention_days=1.0)
    old, new = b"o" * 32, b"n" * 32
    old_token = guard.open_session(old)
    stranger = tmp_path / "not-ours"
    stranger.mkdir()
    long_ago = time.time() - 2 * 86400
    for path in (guard._session_dir(old), stranger, tmp_path / ".last-sweep"):
        os.utime(path, (long_ago, long_ago))
    new_token = guard.open_session(new)  # the last sweep is old: this one sweeps
    assert not guard._session_dir(old).exists() and stranger.exists()
    with pytest.raises(OutOfOrder, match="no record"):
        guard.claim(old, "share_keys", old_token)
    guard.claim(new, "share_keys", new_token)
    assert guard.sweep() == 0


def test_a_swept_session_opened_again_does_not_take_the_old_round_state(tmp_path):
    """The second review: a swept session's record could be opened again by a replayed
    advertise_keys, and a stale Context (seed and stage reached, kept by a concurrent message
    that wrote back late) then answered unmask a second time, for another survivor set. The
    reopened record has a new token; the old state's token no longer claims anything."""
    guard = StageGuard(tmp_path, 4, retention_days=1.0)
    old_token = guard.open_session(SESSION)
    guard.claim(SESSION, "share_keys", old_token)
    long_ago = time.time() - 2 * 86400
    for path in (guard._session_dir(SESSION), tmp_path / ".last-sweep"):
        os.utime(path, (long_ago, long_ago))
    guard.open_session(b"x" * 32)  # sweeps the old session
    again = guard.open_session(SESSION)  # the replayed advertise_keys
    assert again != old_token
    with pytest.raises(OutOfOrder, match="does not belong"):
        guard.claim(SESSION, "unmask", old_token)


def test_a_sweep_runs_at_most_once_an_hour(tmp_path):
    guard = StageGuard(tmp_path, 3, retention_days=1.0)
    guard.open_session(b"a" * 32)  # sweeps (first time) and stamps
    long_ago = time.time() - 2 * 86400
    os.utime(guard._session_dir(b"a" * 32), (long_ago, long_ago))
    guard.open_session(b"b" * 32)  # swept a moment ago: no scan
    assert guard._session_dir(b"a" * 32).exists()
    assert guard.sweep() == 1


def test_where_the_directory_lives(tmp_path, monkeypatch):
    """Node config first, then SECAGG_STATE_DIR, then XDG_STATE_HOME; never the run config."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SECAGG_STATE_DIR", raising=False)
    assert StageGuard.for_node(1, {}).root == tmp_path / "xdg" / "secagg" / "flower"
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "env"))
    assert StageGuard.for_node(1, {}).root == tmp_path / "env"
    node = {"secagg-state-dir": str(tmp_path / "node"), "secagg-state-retention-days": 2}
    guard = StageGuard.for_node(1, node)
    assert guard.root == tmp_path / "node" and guard.retention == 2 * 86400
    with pytest.raises(LocalError):
        StageGuard.for_node(1, {"secagg-state-retention-days": "forever"})


def test_the_mod_ignores_a_state_dir_in_the_run_config(tmp_path, monkeypatch):
    """The run config is the run submitter's: a fresh directory there would forget answers."""
    from flwr.app import Context, RecordDict

    from fl_integration.flower.mod import _guard

    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "node"))
    context = Context(run_id=1, node_id=9, node_config={}, state=RecordDict(),
                      run_config={"secagg-state-dir": str(tmp_path / "fresh")})
    assert _guard(context).root == tmp_path / "node"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_directory_others_may_write_is_refused(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(LocalError, match="writable by no one else"):
        StageGuard(root, 1).open_session(SESSION)
