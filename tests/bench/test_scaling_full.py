"""``python -m bench scaling --full`` reaches the large SecAgg+ rounds (here at tiny sizes)."""

import json

import pytest

from bench import scaling, scaling_full

PNG = b"\x89PNG\r\n\x1a\n"
TINY = [(30, 40, 0.1), (60, 40, 0.1)]


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(scaling_full, "POINTS", TINY)
    # in this process (the real run gives each point a child of its own, for its peak memory)
    monkeypatch.setattr(scaling_full, "_run_isolated",
                        lambda n, m, rate, procs: scaling_full.run_point(n, m, rate))


@pytest.mark.slow  # the whole --full path: the tiny grid, its plots and primitives too (~10 s)
def test_full_runs_the_large_rounds_first_and_writes_them(tiny, tmp_path, capsys):
    argv = ["--full", "--protocol", "secagg+", "--clients", "5", "--dim", "40",
            "--dropout", "0", "--out", str(tmp_path)]
    assert scaling.main(argv) == 0
    out = capsys.readouterr().out
    first = out.index("running secagg+ n=30 dim=40 dropout=0.1: estimated peak ~")
    assert first < out.index("running secagg+ n=60") < out.index("[1/1] secagg+ n=5")
    assert "n=60 masked_input: 54 clients" in out and "exact sum" in out  # 6 silent
    large = tmp_path / "large"
    meta = json.loads((large / "large.json").read_text())
    assert meta["command"].startswith("python -m bench scaling --full")
    rows = meta["rows"]
    assert [r["n"] for r in rows] == [30, 60] and all(r["exact"] for r in rows)
    for r in rows:
        assert r["included"] == r["n"] - int(r["dropout"] * r["n"])
        assert r["bytes_down_per_client"] > 0 and r["peak_rss_bytes"] > 0
        assert r["wall_s"] >= r["server_s"] > 0 and r["estimate_bytes"] > 0
    assert (large / "large.png").read_bytes()[:8] == PNG
    assert "| 60 | 40 | 0.1 |" in (large / "large.md").read_text()
    assert (tmp_path / "results.jsonl").exists()  # and then the usual grid


def test_the_large_rounds_write_checked_rows_a_table_and_a_plot(tiny, tmp_path, capsys):
    rows = scaling_full.run_large(tmp_path, command="test")
    assert [r["n"] for r in rows] == [30, 60] and all(r["exact"] for r in rows)
    assert "n=30 unmask: 27 clients" in capsys.readouterr().out
    assert json.loads((tmp_path / "large.json").read_text())["rows"][1]["k"] == rows[1]["k"]
    assert (tmp_path / "large.png").read_bytes()[:8] == PNG


def test_full_dispatches_to_the_large_rounds(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(scaling_full, "run_large", lambda out, **kw: calls.append((out, kw)))
    assert scaling.main(["--full", "--dry-run", "--out", str(tmp_path)]) == 0
    (out, kw), = calls
    assert out == tmp_path / "large" and kw["dry_run"] and kw["max_mem_gib"] == 16.0
    assert kw["command"] == f"python -m bench scaling --full --dry-run --out {tmp_path}"
    assert scaling.main(["--dry-run", "--out", str(tmp_path)]) == 0
    assert len(calls) == 1  # only with --full


def test_the_dry_run_lists_the_large_points_with_estimates_and_skips_what_cannot_fit(capsys):
    assert scaling_full.main(["--dry-run", "--max-mem-gib", "4"]) == 0
    out = capsys.readouterr().out
    assert "would run secagg+ n=10000 dim=10000 dropout=0.1: estimated peak ~" in out
    assert "skipping secagg+ n=100000 dim=10000 dropout=0.1: estimated peak ~" in out
    assert "running" not in out


def test_the_estimate_of_the_largest_point_is_within_the_target():
    k = scaling_full._config(100_000, 10_000, 0.1).degree
    assert scaling_full.estimate_bytes(100_000, 10_000, k) <= 8 * scaling_full.GIB
