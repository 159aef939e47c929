"""The demo's command line: tiny runs write the plot and the final-accuracy line; bad flags fail."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fl_integration import demo

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_demo_writes_plot_and_summary(tmp_path, capsys):
    code = demo.main(["--clients", "10", "--rounds", "2", "--per-round", "6",
                      "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^final accuracy: \d+\.\d\d% \(plain FedAvg: \d+\.\d\d%\)$", out, re.M), out
    png = tmp_path / "accuracy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in out


@pytest.mark.parametrize("flags, message", [
    (["--aggregator", "rot13"], "invalid choice: 'rot13'"),
    (["--dp", "global"], "invalid choice: 'global'"),
    (["--clients", "0"], "expected a positive integer, got 0"),
    (["--dropout", "1.5"], "expected a number in [0, 1), got 1.5"),
    (["--rounds", "many"], "expected a positive integer, got 'many'"),
])
def test_bad_flags_exit_nonzero_with_a_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(flags)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_reports_bad_flag():
    proc = subprocess.run([sys.executable, "-m", "fl_integration.demo", "--clients", "-3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: python -m fl_integration.demo" in proc.stderr
    assert "--clients: expected a positive integer, got -3" in proc.stderr
