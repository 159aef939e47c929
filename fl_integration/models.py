"""A small NumPy classifier (softmax regression, or one hidden ReLU layer) and a client wrapping it.

Demo and test material: no ML framework needed. The client's minibatch shuffling uses a NumPy
``Generator`` seeded from (seed, round, client) — data order, not a secret. The client also
speaks FedProx (``proximal_mu`` in the fit config) and SCAFFOLD (``"scaffold": True`` in the
fit config; see :meth:`NumpyClient.fit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
        batch_size: int, rng: np.random.Generator, proximal_mu: float = 0.0,
        correction: Parameters | None = None) -> Parameters:
    """Minibatch SGD; returns new arrays. ``proximal_mu`` adds FedProx's mu/2·||w - w0||² (w0:
    the starting ``params``, the global model) to the loss, so mu·(w - w0) to each gradient;
    ``correction`` is added to each gradient as is (SCAFFOLD's c - c_i)."""
    start = [p.copy() for p in params]
    params = [p.copy() for p in params]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for lo in range(0, len(y), batch_size):
            idx = order[lo : lo + batch_size]
            grads = _gradients(params, x[idx], y[idx])
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if proximal_mu:
                    g = g + proximal_mu * (p - start[i])
                if correction is not None:
                    g = g + correction[i]
                p -= lr * g
    return params


def local_steps(n_examples: int, *, epochs: int, batch_size: int) -> int:
    """How many SGD steps ``sgd`` takes: K in SCAFFOLD's control-variate update."""
    return epochs * math.ceil(n_examples / batch_size)


@dataclass
class NumpyClient:
    """A federated client holding (x, y): ``fit`` runs local SGD, ``evaluate`` scores locally.

    ``proximal_mu`` (FedProx's mu; the fit config's ``"proximal_mu"`` overrides it) pulls local
    training toward the global model. Under SCAFFOLD the client keeps its control variate c_i
    here, between rounds, as a deployed client keeps it in its local state.
    """

    client_id: int
    x: np.ndarray
    y: np.ndarray
    epochs: int = 2
    lr: float = 0.1
    batch_size: int = 16
    seed: int = 0
    proximal_mu: float = 0.0
    _control: Parameters | None = field(default=None, init=False, repr=False)

    def fit(self, parameters: Parameters, config: dict[str, Any]) -> tuple[Parameters, int, dict]:
        """Local training, deterministic given (seed, round, client id).

        With ``config["scaffold"]`` the parameters are the model x followed by the server's
        control variate c (as many arrays again), and the result is the new model y followed
        by Δc_i = c_i⁺ - c_i, where c_i⁺ = c_i - c + (x - y)/(K·lr) (Karimireddy et al.'s
        option II, K local steps). c_i moves only at :meth:`commit_control`.
        """
        rng = np.random.default_rng([self.seed, int(config.get("round", 0)), self.client_id])
        epochs, lr = int(config.get("epochs", self.epochs)), float(config.get("lr", self.lr))
        mu = float(config.get("proximal_mu", self.proximal_mu))
        if config.get("scaffold"):
            new, delta_c = self._fit_scaffold(parameters, epochs, lr, mu, rng)
        else:
            new, delta_c = sgd(parameters, self.x, self.y, epochs=epochs, lr=lr,
                               batch_size=self.batch_size, rng=rng, proximal_mu=mu), []
        loss, acc = loss_and_accuracy(new, self.x, self.y)
        return new + delta_c, len(self.y), {"loss": loss, "accuracy": acc}

    def _fit_scaffold(self, parameters: Parameters, epochs: int, lr: float, mu: float,
                      rng: np.random.Generator) -> tuple[Parameters, Parameters]:
        """(y, Δc_i): SGD corrected by c - c_i, and the change of the control variate."""
        if len(parameters) % 2:
            raise ValueError("SCAFFOLD parameters must be the model followed by the control "
                             f"variate (an even number of arrays), got {len(parameters)}")
        half = len(parameters) // 2
        model, server_c = parameters[:half], parameters[half:]
        own = self._control if self._control is not None else [np.zeros_like(p) for p in model]
        correction = [c - ci for c, ci in zip(server_c, own, strict=True)]
        new = sgd(model, self.x, self.y, epochs=epochs, lr=lr, batch_size=self.batch_size,
                  rng=rng, proximal_mu=mu, correction=correction)
        steps = local_steps(len(self.y), epochs=epochs, batch_size=self.batch_size)
        if steps == 0:  # nothing trained: nothing learned about the local gradient
            return new, [np.zeros_like(ci) for ci in own]
        # Δc_i = c_i⁺ - c_i = (x - y)/(K·lr) - c
        return new, [(x - y) / (steps * lr) - c for c, x, y in zip(server_c, model, new,
                                                                   strict=True)]

    def commit_control(self, delta_c: Parameters) -> None:
        """c_i ← c_i + Δc_i, once the Δc_i this client submitted (as clipped) is in a released
        sum: the server's c moved by it. A client whose upload was lost keeps its c_i, and one
        whose Δc_i was clipped moves by what it sent, so c stays the clients' mean."""
        own = self._control if self._control is not None else [np.zeros_like(d) for d in delta_c]
        self._control = [ci + np.asarray(d, dtype=np.float64) for ci, d in zip(own, delta_c,
                                                                               strict=True)]

    @property
    def control(self) -> Parameters | None:
        """The committed control variate c_i (None before the first committed SCAFFOLD round)."""
        return None if self._control is None else [c.copy() for c in self._control]

    def evaluate(self, parameters: Parameters, config: dict[str, Any]) -> tuple[float, int, dict]:
        """Loss and accuracy on the local data."""
        loss, acc = loss_and_accuracy(parameters, self.x, self.y)
        return loss, len(self.y), {"accuracy": acc}
