"""The documentation's tables and promises stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from bench.parameters import table

ROOT = Path(__file__).resolve().parent.parent


def test_parameter_tables_are_what_the_finder_picks() -> None:
    text = (ROOT / "docs" / "parameters.md").read_text()
    assert table() in text
    assert table(malicious=True) in text


def test_the_readme_points_only_at_files_users_have() -> None:
    text = (ROOT / "README.md").read_text()
    assert "DESIGN" not in text and "shared" not in text
    assert "SECURITY.md" in text and (ROOT / "SECURITY.md").exists()
