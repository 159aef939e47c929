"""docs/float-encoding.md runs as written: each python block prints the text block after it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "float-encoding.md"
PAIR = re.compile(r"```python\n(.*?)```\s*(?:[^`]*?)```text\n(.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    pairs = PAIR.findall(DOC.read_text())
    assert len(pairs) >= 2, "the doc lost its runnable examples"
    return pairs


def test_float_encoding_doc_examples_print_what_the_doc_shows() -> None:
    namespace: dict[str, object] = {}  # later blocks use the names of earlier ones
    for code, promised in _examples():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), namespace)
        assert out.getvalue().strip() == promised.strip()


def test_the_doc_shows_the_mismatch_refused_with_both_widths() -> None:
    _, message = _examples()[1]
    assert "bits=16" in message and "modulus_bits=32" in message
