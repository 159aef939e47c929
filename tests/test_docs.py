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
    assert "DESIGN" not in text and "shared/" not in text
    assert "SECURITY.md" in text and (ROOT / "SECURITY.md").exists()


def test_no_code_cites_files_users_do_not_have() -> None:
    """Docstrings, comments and --help texts cite the repository's own docs, never the design
    notes the users never see."""
    offenders = []
    for package in ("secagg", "protocols", "dp", "fl_integration", "bench", "examples"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "DESIGN" in text or "shared/" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
