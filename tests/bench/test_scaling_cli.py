"""``python -m bench scaling`` end to end with tiny settings: outputs parse and flags are checked."""

import csv
import json
import subprocess
import sys

import pytest

from bench.scaling import main


def test_tiny_grid_writes_consistent_outputs(tmp_path):
    argv = ["--protocol", "secagg,secagg+", "--clients", "5,8", "--dim", "100",
            "--dropout", "0,0.2", "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    for r in rows:
        assert r["server_s"] > 0 and r["client_mean_s"] > 0
        assert r["client_max_s"] >= r["client_mean_s"]
        assert r["bytes_up_per_client"] >= 100 * 4  # at least the 32-bit masked vector
        assert r["included"] == r["n"] - int(r["dropout"] * r["n"])
        assert "masked_input" in r["stages"]
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    for name in ("time_vs_n.png", "bytes_vs_n.png", "stages.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "client cost ~ n^" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("flags, msg", [
    (["--protocol", "nope"], "unknown protocol"),
    (["--clients", "a,b"], "comma list"),
    (["--dropout", "0.9"], "--dropout"),
    (["--clients", "2"], "--clients"),
])
def test_bad_flags_exit_nonzero_with_message(flags, msg):
    p = subprocess.run([sys.executable, "-m", "bench", "scaling", *flags],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert msg in p.stderr
