"""What the federated layer needs from a client: Flower's NumPy-client shape, no framework."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

Parameters = list[np.ndarray]
Metrics = dict[str, Any]


@runtime_checkable
class Client(Protocol):
    """Anything that trains locally: ``fit`` returns (new parameters, examples used, metrics).

    ``evaluate(parameters, config) -> (loss, num_examples, metrics)`` is optional.
    """

    def fit(self, parameters: Parameters, config: dict[str, Any]) -> tuple[Parameters, int, Metrics]:
        """Train from ``parameters`` on local data; return the result and the example count."""
        ...


def has_evaluate(client: object) -> bool:
    """True when the client offers federated evaluation."""
    return callable(getattr(client, "evaluate", None))
