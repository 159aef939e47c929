"""``python -m bench groups`` at tiny sizes with the in-process executor: JSON, plot, checks."""

import json

import numpy as np
import pytest

from bench.__main__ import dispatch
from bench.groups import SyntheticGroup, _extrapolate, main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("groups")
    code = main(["--clients", "70", "--group-size", "20", "--dim", "40", "--workers", "1",
                 "--executor", "inprocess", "--groups", "2", "--no-progress", "--out", str(out)])
    return code, out, json.loads((out / "groups.json").read_text())


def test_tiny_run_verifies_every_group_and_writes_outputs(tiny_run, capsys):
    code, out, result = tiny_run
    assert code == 0
    assert (out / "groups.png").read_bytes()[:8] == PNG
    assert result["config"]["group_sizes"] == [23, 24]  # 70 clients: 3 groups of >= 20
    assert result["config"]["groups_run"] == 2
    (run,) = result["runs"]
    assert run["verified"] and run["groups"] == 2 and run["groups_per_s"] > 0
    assert 0 < run["core_share"] and run["cpu_s_median"] > 0
    assert all(r["included"] == r["size"] - r["size"] // 10 for r in run["records"])
    ext = result["extrapolation"]
    assert ext["total_groups"] == 3 and ext["per_group_s"] > 0
    assert [r["workers"] for r in ext["rows"]] == [1, 2, 3]


def test_registered_as_a_bench_command(tmp_path, capsys):
    code = dispatch(["groups", "--clients", "12", "--group-size", "6", "--dim", "8",
                     "--workers", "1", "--executor", "inprocess", "--no-progress",
                     "--out", str(tmp_path)])
    assert code == 0 and "groups/s" in capsys.readouterr().out


def test_in_process_refuses_more_workers(tmp_path):
    with pytest.raises(SystemExit):
        main(["--workers", "1,2", "--executor", "inprocess", "--out", str(tmp_path)])


def test_group_inputs_are_made_lazily_and_reproducibly():
    job = SyntheticGroup(0, (1, 2, 3), dim=5, dropout=0.0, corrupt=0.0, plus=True, seed=7)
    assert np.array_equal(job.input(2), job.input(2)) and job.input(2).dtype == np.uint32
    assert not np.array_equal(job.input(2), job.input(3))


def test_extrapolation_uses_the_measured_efficiency():
    def run(workers, rate):
        return {"workers": workers, "groups_per_s": rate,
                "records": [{"seconds": 9.0, "verify_s": 1.0, "cpu_s": 8.0}]}

    ext = _extrapolate([run(1, 0.1), run(2, 0.15)], total_groups=100)
    assert ext["efficiency"] == pytest.approx(0.75) and ext["per_group_s"] == 10.0
    rows = {r["workers"]: r for r in ext["rows"]}
    assert rows[1]["at_measured_efficiency_s"] == pytest.approx(1000.0)
    assert rows[4]["ideal_s"] == 250.0
    assert rows[4]["at_measured_efficiency_s"] == pytest.approx(100 / (0.1 * 4 * 0.75))
    assert rows[4]["dedicated_cores_s"] == 25 * 8.0
