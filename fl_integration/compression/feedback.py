"""Error feedback: what a client's compressed message left out, added to its next update.

The residual is the client's own business: it never leaves the client, and a deployed client
keeps it in its local state between rounds (in a Flower ClientApp, ``context.state``). The
simulated federation keeps one per client id in :class:`ErrorFeedback`. A residual is
committed only when the client's input made it into a released sum; a client left out of a
round (dropped, or the round aborted) keeps the residual it had, and that round's update is
lost, as it would be without compression.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ErrorFeedback:
    """Residuals per client id, and the ones waiting for the round's outcome."""

    residuals: dict[int, np.ndarray] = field(default_factory=dict)
    pending: dict[int, np.ndarray] = field(default_factory=dict)

    def apply(self, client: int, update: np.ndarray) -> np.ndarray:
        """The update plus the client's residual: what it compresses this round."""
        residual = self.residuals.get(client)
        return update if residual is None else update + residual

    def hold(self, client: int, residual: np.ndarray) -> None:
        """This round's new residual, until the round says whether the input counted."""
        self.pending[client] = residual

    def commit(self, included: Iterable[int]) -> None:
        """Keep the new residuals of the clients whose input is in the sum; drop the rest."""
        for client in included:
            if client in self.pending:
                self.residuals[client] = self.pending[client]
        self.pending.clear()
