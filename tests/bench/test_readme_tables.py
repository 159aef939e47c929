"""The README's performance tables are exactly what the benchmarks last wrote to docs/perf."""

import json
from pathlib import Path

import pytest

from bench import readme


def test_readme_tables_are_current() -> None:
    text = readme.README.read_text()
    assert readme.render(text) == text, "README tables are stale: run python -m bench readme"


def test_a_new_measurement_changes_the_readme_table(tmp_path: Path) -> None:
    row = {"protocol": "secagg+", "n": 200, "dim": 10_000, "dropout": 0.1, "server_s": 12.345,
           "client_mean_s": 0.5, "bytes_up_per_client": 43_000.0, "bytes_down_per_client": 8_000.0}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    table = readme.scaling_table(tmp_path)
    assert "| SecAgg+ | 200 | 12.345 | 0.5000 | 43 KB | 8 KB |" in table
    assert "| SecAgg | " not in table  # nothing measured, nothing shown


def test_targets_block_comes_from_targets_json(tmp_path: Path) -> None:
    report = json.loads((readme.PERF / "targets.json").read_text()) if (
        readme.PERF / "targets.json").exists() else None
    if report is None:
        pytest.skip("no docs/perf/targets.json")
    report["results"]["secagg"]["server_s"] = 99.5
    (tmp_path / "targets.json").write_text(json.dumps(report))
    assert "| 99.50 s |" in readme.targets_table(tmp_path)


def test_a_readme_without_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="bench:scaling"):
        readme.render("no blocks here", readme.PERF)
