"""Load the library's compiled kernels before the round's clock starts.

numba loads (or, with a stale cache, compiles) each kernel on its first call: from a few tenths
of a second to several seconds in a fresh process on a busy machine. Paid inside a stage, that
cost can miss the stage's deadline and make the client a dropout. A long-lived process pays it
once. This example's processes are fresh, so each one pays it up front instead.
"""

from __future__ import annotations

import numpy as np

from protocols import SecAggConfig, simulate_round


def warm_up(modulus_bits: int) -> None:
    """One tiny round in process, with a dropout, at the round's width: every kernel a client
    or a server will call (kernels are compiled per integer width)."""
    config = SecAggConfig(client_ids=(1, 2, 3, 4), vector_length=4, modulus_bits=modulus_bits)
    inputs = {u: np.zeros(4, dtype=np.uint64) for u in config.client_ids}
    simulate_round(config, inputs, {"masked_input": [4]})
