"""``python -m bench <command>``: the dispatch table, its usage message and unknown commands."""

import subprocess
import sys

import pytest

from bench.__main__ import COMMANDS, dispatch, usage


def _run(*argv):
    return subprocess.run([sys.executable, "-m", "bench", *argv], capture_output=True, text=True)


def test_usage_lists_every_command():
    text = usage()
    names = {"scaling", "targets", "flower", "paillier", "parameters", "lightsecagg",
             "compression", "readme", "groups"}
    for name in names:
        assert f"  {name} " in text
    assert set(COMMANDS) == names


@pytest.mark.parametrize("argv", [[], ["nope"], ["--protocol"]])
def test_unknown_or_missing_command_exits_nonzero_with_usage(argv):
    p = _run(*argv)
    assert p.returncode == 2
    assert "usage: python -m bench <command>" in p.stderr
    assert "targets" in p.stderr and "paillier" in p.stderr


def test_help_prints_usage_and_succeeds():
    p = _run("--help")
    assert p.returncode == 0 and "commands:" in p.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_table_entry_has_its_entry_point(command):
    import importlib

    module, has_main, _ = COMMANDS[command]
    assert callable(getattr(importlib.import_module(module), "main", None)) == has_main


def test_scaling_help_goes_through_the_table():
    p = _run("scaling", "--help")
    assert p.returncode == 0 and "--paillier-key-bits" in p.stdout


def test_paillier_command_forwards_its_arguments():
    p = _run("paillier", "--help")
    assert p.returncode == 0 and "--quick" in p.stdout
    assert p.stdout.startswith("usage: python -m bench paillier")


def test_targets_runs_as_main_with_its_arguments():
    p = _run("targets", "--quick")  # scaled-down round: n = 50 and 100, 10^4 values
    assert p.returncode == 0, p.stderr
    assert "[secagg] targets:" in p.stdout and "[secagg+] targets:" in p.stdout


def test_dispatch_in_process_returns_2_and_prints_usage(capsys):
    assert dispatch(["nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'nope'" in err and "commands:" in err
