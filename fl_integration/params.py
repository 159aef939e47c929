"""Model parameters as a list of NumPy arrays <-> one flat float64 vector (what aggregation sums)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ParamSpec:
    """The shapes and dtypes of a parameter list, so a flat vector can be cut back into it."""

    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]

    @property
    def size(self) -> int:
        """Total number of values over all arrays."""
        return int(sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes))

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray]) -> ParamSpec:
        """The spec of ``arrays``."""
        arrs = [np.asarray(a) for a in arrays]
        return cls(tuple(a.shape for a in arrs), tuple(a.dtype for a in arrs))


def flatten(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ParamSpec]:
    """(one contiguous float64 vector holding every array in order, the spec to undo it)."""
    spec = ParamSpec.of(arrays)
    if not arrays:
        return np.zeros(0, dtype=np.float64), spec
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    return flat, spec


def unflatten(vector: np.ndarray, spec: ParamSpec) -> list[np.ndarray]:
    """Cut ``vector`` back into arrays of ``spec``'s shapes and dtypes (copies)."""
    vec = np.asarray(vector)
    if vec.ndim != 1 or vec.shape[0] != spec.size:
        raise ValueError(f"vector must have shape ({spec.size},), got {vec.shape}")
    out, pos = [], 0
    for shape, dtype in zip(spec.shapes, spec.dtypes, strict=True):
        n = int(np.prod(shape, dtype=np.int64))
        out.append(vec[pos : pos + n].reshape(shape).astype(dtype, copy=True))
        pos += n
    return out
