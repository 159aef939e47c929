"""The package surface: __all__ resolves, dp imports nothing of ours and no banned modules."""

from __future__ import annotations

import ast
import pathlib

import dp

DP_DIR = pathlib.Path(dp.__file__).parent


def test_all_names_resolve():
    for name in dp.__all__:
        assert hasattr(dp, name), name


def test_dp_imports_nothing_of_ours_nor_banned_modules():
    banned = {"random", "numpy.random", "pickle", "secagg", "protocols", "fl_integration"}
    for path in DP_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for n in names:
                assert n.split(".")[0] not in banned and n not in banned, (path.name, n)
            if isinstance(node, ast.ImportFrom) and node.module == "numpy":
                assert all(a.name != "random" for a in node.names), path.name


def test_no_numpy_random_attribute_use():
    for path in DP_DIR.glob("*.py"):
        assert "np.random" not in path.read_text(), path.name


def test_dp_accounting_is_imported_lazily():
    src = (DP_DIR / "accounting.py").read_text()
    top = src.split("def _dpa")[0]
    assert "import dp_accounting" not in top
