"""Layering, banned APIs and sans-IO purity, checked on the source's import graph.

Ruff's TID251 enforces the banned APIs at lint time; this test keeps the rule inside the test
suite too, and adds what ruff cannot: which of our packages may import which.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"secagg", "protocols", "dp", "fl_integration", "bench"}
ALLOWED = {  # package -> our packages it may import
    "secagg": set(),
    "dp": set(),
    "protocols": {"secagg"},
    "fl_integration": {"secagg", "protocols", "dp"},
    "bench": OURS,
}
BANNED = {"random", "numpy.random", "pickle", "cPickle", "marshal", "shelve"}
IO_MODULES = {"time", "asyncio", "socket", "threading", "selectors", "flwr"}
#: the simulation drivers' meters time the parties; their pool runs clients in worker processes
IO_ALLOWED = {"protocols/metering.py", "protocols/pool.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute) and _dotted(node) in {"np.random", "numpy.random"}:
            found.add("numpy.random")
    return found


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layering(package: str) -> None:
    for path in _sources(package):
        used = {name.split(".")[0] for name in _imports(path)} & OURS - {package}
        assert used <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {used - ALLOWED[package]}"


@pytest.mark.parametrize("package", ["secagg", "dp", "protocols"])
def test_no_weak_randomness_or_pickle(package: str) -> None:
    for path in _sources(package):
        bad = {name for name in _imports(path) if name in BANNED or name.startswith("numpy.random")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_protocols_are_sans_io() -> None:
    for path in _sources("protocols"):
        if str(path.relative_to(ROOT)) in IO_ALLOWED:
            continue
        bad = {name.split(".")[0] for name in _imports(path)} & IO_MODULES
        assert not bad, f"{path.relative_to(ROOT)} does I/O or keeps time: {bad}"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy as np\nfrom random import random\nx = np.random.rand\n")
    assert {"random", "numpy.random"} <= _imports(probe)
