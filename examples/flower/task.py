"""The learning task: logistic regression on scikit-learn's breast-cancer data (shipped with
the package, no download), split non-IID across clients by sorting on one feature."""

from __future__ import annotations

import numpy as np

NUM_FEATURES = 30


def load_partition(partition_id: int, num_partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """Client ``partition_id``'s slice: contiguous in the order of feature 0 (non-IID)."""
    # Imported here: a SuperNode starts a process per message, and most secure-aggregation
    # stages never train, so they need not pay for importing scikit-learn.
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.argsort(x[:, 0], kind="stable")
    part = np.array_split(order, num_partitions)[partition_id]
    return x[part], y[part].astype(np.float64)


def initial_parameters() -> list[np.ndarray]:
    return [np.zeros(NUM_FEATURES, np.float32), np.zeros(1, np.float32)]


def train(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, epochs: int, lr: float):
    """Full-batch gradient descent on the logistic loss; returns the new parameters."""
    w, b = params[0].astype(np.float64), params[1].astype(np.float64)
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * x.T @ (p - y) / len(y)
        b -= lr * np.array([np.mean(p - y)])
    return [w.astype(np.float32), b.astype(np.float32)]


def evaluate(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(log loss, accuracy)."""
    p = np.clip(1 / (1 + np.exp(-(x @ params[0] + params[1]))), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return loss, float(np.mean((p > 0.5) == y))
