"""A small NumPy classifier (softmax regression, or one hidden ReLU layer) and a client wrapping it.

Demo and test material: no ML framework needed. The client's minibatch shuffling uses a NumPy
``Generator`` seeded from (seed, round, client) — data order, not a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Parameters = list[np.ndarray]


def init_parameters(n_features: int, n_classes: int, hidden: int = 0, seed: int = 0) -> Parameters:
    """Initial weights: zeros for softmax regression, He-scaled for the hidden layer."""
    if hidden <= 0:
        return [np.zeros((n_features, n_classes)), np.zeros(n_classes)]
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((n_features, hidden)) * np.sqrt(2.0 / n_features), np.zeros(hidden),
        rng.standard_normal((hidden, n_classes)) * np.sqrt(1.0 / hidden), np.zeros(n_classes),
    ]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_proba(params: Parameters, x: np.ndarray) -> np.ndarray:
    """Class probabilities for rows of ``x``."""
    if len(params) == 2:
        return _softmax(x @ params[0] + params[1])
    h = np.maximum(x @ params[0] + params[1], 0.0)
    return _softmax(h @ params[2] + params[3])


def loss_and_accuracy(params: Parameters, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on (x, y)."""
    p = predict_proba(params, x)
    loss = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
    return loss, float(np.mean(p.argmax(axis=1) == y))


def _gradients(params: Parameters, x: np.ndarray, y: np.ndarray) -> Parameters:
    n = len(y)
    if len(params) == 2:
        d = _softmax(x @ params[0] + params[1])
        d[np.arange(n), y] -= 1.0
        return [x.T @ d / n, d.mean(axis=0)]
    w1, b1, w2, b2 = params
    pre = x @ w1 + b1
    h = np.maximum(pre, 0.0)
    d = _softmax(h @ w2 + b2)
    d[np.arange(n), y] -= 1.0
    dh = (d @ w2.T) * (pre > 0)
    return [x.T @ dh / n, dh.mean(axis=0), h.T @ d / n, d.mean(axis=0)]


def sgd(params: Parameters, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float,
        batch_size: int, rng: np.random.Generator) -> Parameters:
    """Plain minibatch SGD; returns new arrays."""
    params = [p.copy() for p in params]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for lo in range(0, len(y), batch_size):
            idx = order[lo : lo + batch_size]
            for p, g in zip(params, _gradients(params, x[idx], y[idx]), strict=True):
                p -= lr * g
    return params


@dataclass
class NumpyClient:
    """A federated client holding (x, y): ``fit`` runs local SGD, ``evaluate`` scores locally."""

    client_id: int
    x: np.ndarray
    y: np.ndarray
    epochs: int = 2
    lr: float = 0.1
    batch_size: int = 16
    seed: int = 0

    def fit(self, parameters: Parameters, config: dict[str, Any]) -> tuple[Parameters, int, dict]:
        """Local training, deterministic given (seed, round, client id)."""
        rng = np.random.default_rng([self.seed, int(config.get("round", 0)), self.client_id])
        new = sgd(parameters, self.x, self.y, epochs=int(config.get("epochs", self.epochs)),
                  lr=float(config.get("lr", self.lr)), batch_size=self.batch_size, rng=rng)
        loss, acc = loss_and_accuracy(new, self.x, self.y)
        return new, len(self.y), {"loss": loss, "accuracy": acc}

    def evaluate(self, parameters: Parameters, config: dict[str, Any]) -> tuple[float, int, dict]:
        """Loss and accuracy on the local data."""
        loss, acc = loss_and_accuracy(parameters, self.x, self.y)
        return loss, len(self.y), {"accuracy": acc}
