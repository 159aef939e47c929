"""Tiny federations for the fl_integration tests: clients whose update is a known vector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass
class ShiftClient:
    """fit() returns the parameters moved by a fixed vector: the exact FedAvg step is known."""

    shift: np.ndarray
    examples: int

    def fit(self, parameters, config):
        flat = np.concatenate([p.ravel() for p in parameters])
        moved = flat + self.shift
        out, pos = [], 0
        for p in parameters:
            out.append(moved[pos : pos + p.size].reshape(p.shape))
            pos += p.size
        return out, self.examples, {}

    def evaluate(self, parameters, config):
        flat = np.concatenate([p.ravel() for p in parameters])
        return float(np.sum(flat**2)), self.examples, {"accuracy": 0.5}


def make_shift_clients(n: int, dim: int, seed: int = 0, scale: float = 0.3) -> list[ShiftClient]:
    """``n`` clients with shifts in [-scale, scale] and 5..50 examples each."""
    rng = np.random.default_rng(seed)
    return [ShiftClient(rng.uniform(-scale, scale, dim), int(rng.integers(5, 51))) for _ in range(n)]


def initial(dim: int) -> list[np.ndarray]:
    """Parameters as two arrays of total size ``dim`` (exercises flatten/unflatten)."""
    return [np.zeros((dim // 2, 1)), np.zeros(dim - dim // 2)]


def expected_step(clients: list[ShiftClient], survivors) -> np.ndarray:
    """The exact weighted FedAvg step over ``survivors`` (client ids are index + 1)."""
    ids = sorted(survivors)
    w = np.array([clients[c - 1].examples for c in ids], dtype=np.float64)
    shifts = np.stack([clients[c - 1].shift for c in ids])
    return (w[:, None] * shifts).sum(axis=0) / w.sum()


@pytest.fixture
def shift_clients():
    return make_shift_clients
