"""Bundled data for the demo (scikit-learn's digits: no download) and a non-IID client split.

The digits need scikit-learn, from the ``demo`` extra: ``pip install 'secagg[demo]'``.
"""

from __future__ import annotations

import numpy as np


def load_digits_split(test_fraction: float = 0.25, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of the 8x8 digits, features scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits  # noqa: PLC0415 - demo extra
    except ImportError as exc:
        raise ImportError("the digits data needs scikit-learn: pip install 'secagg[demo]' "
                          "(or run `make demo`, which installs it)") from exc
    data = load_digits()
    x = data.data.astype(np.float64) / 16.0
    y = data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))  # data shuffling, not a secret
    cut = int(round(len(y) * (1 - test_fraction)))
    tr, te = order[:cut], order[cut:]
    return x[tr], y[tr], x[te], y[te]


def dirichlet_split(labels: np.ndarray, n_clients: int, alpha: float, seed: int = 0,
                    min_size: int = 2) -> list[np.ndarray]:
    """Indices per client with label skew: each class is spread by Dirichlet(alpha) proportions.

    Small ``alpha`` = very non-IID. Redraws until every client holds at least ``min_size``.
    """
    if n_clients < 1 or alpha <= 0:
        raise ValueError("need n_clients >= 1 and alpha > 0")
    if n_clients * min_size > len(labels):
        raise ValueError(f"{len(labels)} examples cannot give {n_clients} clients {min_size} each")
    rng = np.random.default_rng(seed)  # simulation choice, not a secret
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(n_clients)]
        for cls in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == cls))
            cuts = (np.cumsum(rng.dirichlet(np.full(n_clients, alpha))) * len(idx)).astype(int)[:-1]
            for part, chunk in zip(parts, np.split(idx, cuts), strict=True):
                part.extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise ValueError("could not draw a split with min_size per client: raise alpha")
