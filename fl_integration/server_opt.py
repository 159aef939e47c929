"""Server optimizers: how the server turns the securely aggregated mean update into a model step.

Reddi et al. 2021, "Adaptive Federated Optimization" (Algorithm 2): the mean client update Δ is
a pseudo-gradient, and the server applies SGD (``FedAvg``), momentum (``FedAvgM``) or an
adaptive rule (``FedAdam``, ``FedYogi``, ``FedAdagrad``) to it. The optimizer runs after
aggregation on the released mean only, so it works with every aggregator and never sees a
single client's update. A config is frozen; ``start()`` makes the state one run steps with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from secagg.errors import ConfigError


class OptimizerState(Protocol):
    """One run's optimizer: ``step(params, mean_update)`` returns the new flat parameters."""

    def step(self, params: np.ndarray, mean_update: np.ndarray) -> np.ndarray: ...


class ServerOptimizer(Protocol):
    """A frozen server-optimizer config; ``start()`` gives a fresh state for one run."""

    def start(self) -> OptimizerState: ...


def _check(owner: object, name: str, value: object, low: float, high: float, *,
           low_open: bool = False, high_open: bool = False) -> None:
    """``ConfigError`` naming ``Owner.name`` and the range unless ``value`` is a real in it."""
    ok = (not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
          and (value > low if low_open else value >= low)
          and (value < high if high_open else value <= high))
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        upper = "inf" if math.isinf(high) else f"{high:g}"
        raise ConfigError(f"{type(owner).__name__}.{name} must be a finite number in "
                          f"{lo}{low:g}, {upper}{hi}, got {value!r}")


def _check_lr(owner: object, lr: object) -> None:
    _check(owner, "lr", lr, 0.0, math.inf, low_open=True, high_open=True)


def _shapes(params: np.ndarray, mean_update: np.ndarray) -> None:
    if np.shape(params) != np.shape(mean_update):
        raise ValueError(f"mean_update has shape {np.shape(mean_update)}, params "
                         f"{np.shape(params)}")


@dataclass(frozen=True, kw_only=True)
class FedAvg:
    """x ← x + lr·Δ: FedAvg's server step (``lr`` is the server learning rate η_g)."""

    lr: float = 1.0

    def __post_init__(self) -> None:
        _check_lr(self, self.lr)

    def start(self) -> OptimizerState:
        """A stateless step."""
        return _SgdState(self)


@dataclass
class _SgdState:
    config: FedAvg

    def step(self, params: np.ndarray, mean_update: np.ndarray) -> np.ndarray:
        _shapes(params, mean_update)
        return params + self.config.lr * mean_update


@dataclass(frozen=True, kw_only=True)
class FedAvgM:
    """Server momentum (Hsu et al. 2019): m ← β·m + Δ, x ← x + lr·m, with m starting at 0."""

    lr: float = 1.0
    momentum: float = 0.9

    def __post_init__(self) -> None:
        _check_lr(self, self.lr)
        _check(self, "momentum", self.momentum, 0.0, 1.0, high_open=True)

    def start(self) -> OptimizerState:
        """Fresh momentum (zero)."""
        return _MomentumState(self)


@dataclass
class _MomentumState:
    config: FedAvgM
    m: np.ndarray | None = field(default=None, repr=False)

    def step(self, params: np.ndarray, mean_update: np.ndarray) -> np.ndarray:
        _shapes(params, mean_update)
        delta = np.asarray(mean_update, dtype=np.float64)
        self.m = delta.copy() if self.m is None else self.config.momentum * self.m + delta
        return params + self.config.lr * self.m


@dataclass(frozen=True, kw_only=True)
class _Adaptive:
    """Reddi et al.'s Algorithm 2: m ← β1·m + (1-β1)·Δ, v ← rule(v, Δ²),
    x ← x + lr·m / (√v + τ), with m₀ = 0 and v₀ = τ² (the paper asks v₋₁ ≥ τ²); no bias
    correction, as in the paper."""

    lr: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    def __post_init__(self) -> None:
        _check_lr(self, self.lr)
        _check(self, "beta1", self.beta1, 0.0, 1.0, high_open=True)
        _check(self, "beta2", self.beta2, 0.0, 1.0, high_open=True)
        _check(self, "tau", self.tau, 0.0, math.inf, low_open=True, high_open=True)

    def start(self) -> OptimizerState:
        """Fresh moments: m = 0, v = τ²."""
        return _AdaptiveState(self)

    def second_moment(self, v: np.ndarray, sq: np.ndarray) -> np.ndarray:
        """The next v from the last and Δ² (the rule that names the optimizer)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class FedAdam(_Adaptive):
    """FedAdam: v ← β2·v + (1-β2)·Δ²."""

    def second_moment(self, v: np.ndarray, sq: np.ndarray) -> np.ndarray:
        """Exponential average of Δ²."""
        return self.beta2 * v + (1.0 - self.beta2) * sq


@dataclass(frozen=True, kw_only=True)
class FedYogi(_Adaptive):
    """FedYogi: v ← v - (1-β2)·Δ²·sign(v - Δ²) (v moves toward Δ² additively; stays > 0)."""

    def second_moment(self, v: np.ndarray, sq: np.ndarray) -> np.ndarray:
        """Yogi's additive step toward Δ²."""
        return v - (1.0 - self.beta2) * sq * np.sign(v - sq)


@dataclass(frozen=True, kw_only=True)
class FedAdagrad(_Adaptive):
    """FedAdagrad: v ← v + Δ². ``beta1`` defaults to 0 (classic Adagrad, no momentum);
    ``beta2`` is unused."""

    beta1: float = 0.0

    def second_moment(self, v: np.ndarray, sq: np.ndarray) -> np.ndarray:
        """Sum of Δ²."""
        return v + sq


@dataclass
class _AdaptiveState:
    config: _Adaptive
    m: np.ndarray | None = field(default=None, repr=False)
    v: np.ndarray | None = field(default=None, repr=False)

    def step(self, params: np.ndarray, mean_update: np.ndarray) -> np.ndarray:
        _shapes(params, mean_update)
        cfg = self.config
        delta = np.asarray(mean_update, dtype=np.float64)
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(delta), np.full_like(delta, cfg.tau**2)
        self.m = cfg.beta1 * self.m + (1.0 - cfg.beta1) * delta
        self.v = cfg.second_moment(self.v, delta * delta)
        return params + cfg.lr * self.m / (np.sqrt(self.v) + cfg.tau)


def check_server_optimizer(optimizer: object) -> None:
    """None, one of ours, or an object with ``start()``; else ``ConfigError``."""
    if optimizer is not None and not callable(getattr(optimizer, "start", None)):
        raise ConfigError("server_optimizer must be None, FedAvg(...), FedAvgM(...), FedAdam(...),"
                          f" FedYogi(...), FedAdagrad(...) or an object with start(), got "
                          f"{optimizer!r}")


__all__ = ["FedAdagrad", "FedAdam", "FedAvg", "FedAvgM", "FedYogi", "OptimizerState",
           "ServerOptimizer"]
