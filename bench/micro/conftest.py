"""Shared state for the micro benchmarks: ratios to raw AES, printed at the end of the run."""

from __future__ import annotations

import pytest

#: (name, seconds, raw AES seconds for the same bytes) collected during the run.
RATIOS: list[tuple[str, float, float]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print each benchmark's ratio to the raw AES-128-CTR keystream of the same bytes."""
    if not RATIOS:
        return
    terminalreporter.section("ratio to raw AES-128-CTR keystream of the same bytes (min times)")
    for name, secs, raw in RATIOS:
        terminalreporter.write_line(
            f"{name:<40} {secs * 1e3:9.2f} ms   raw {raw * 1e3:9.2f} ms   ratio {secs / raw:5.2f}"
        )
