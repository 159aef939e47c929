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


API_MODULES = ("secagg", "protocols", "protocols.lightsecagg", "dp", "fl_integration")


def test_the_api_reference_renders_without_raw_markup() -> None:
    """``make docs`` renders the docstrings with pdoc (reST); none may show a raw role, double
    backticks or a citation of design notes users do not have."""
    import re

    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="restructuredtext")
    for name in API_MODULES:
        html = pdoc.pdoc(name)
        text = " ".join(re.sub(r"<[^>]+>", "", m) for m in
                        re.findall(r'<div class="docstring">(.*?)</div>', html, re.S))
        assert text, name
        for raw in (":func:`", ":class:`", ":mod:`", ":meth:`", "``", "DESIGN"):
            assert raw not in text, (name, raw)
