"""Load the library's compiled kernels before the round's clock starts.

numba loads (or, with a stale cache, compiles) each kernel on its first call: from a few tenths
of a second to several seconds in a fresh process on a busy machine. Paid inside a stage, that
cost can miss the stage's deadline and make the client a dropout. A long-lived process pays it
once. This example's processes are fresh, so each one pays it up front instead.
"""

from __future__ import annotations

from protocols import warm_up

__all__ = ["warm_up"]
