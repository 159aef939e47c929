"""``SecAggConfig``: the parameters every party of one round shares, validated once.

Defaults and their reasoning:

- ``threshold`` for the complete graph (SecAgg) is ⌊2n/3⌋ + 1, Bonawitz et al.'s choice: it is
  more than half of the clients (so a malicious server cannot collect both kinds of share of one
  client) and tolerates a third of them dropping out. For a sparse graph given without a
  threshold the same rule is applied to the neighbourhood (the k neighbours plus the client).
- ``for_secagg_plus`` asks :func:`protocols.params.find_parameters` for (k, t) at the stated
  dropout and corruption rates (security 2^-40, failure 2^-20; see that module for the bounds).
- ``malicious=True`` requires 2t > |N[u]| (DESIGN §2.4): a server that splits the honest clients
  into two groups, showing one a client alive and the other dead, cannot collect t shares of both
  kinds. A server colluding with c clients of a neighbourhood also gets their shares, so it needs
  2t > |N[u]| + c; the default ⌊2(k+1)/3⌋ + 1 tolerates c < (k+1)/3, and a hand-picked t just
  above half tolerates no colluding client. Pick t with the collusion you expect in mind.
- ``session_id`` defaults to 32 fresh bytes from ``os.urandom``: keys, seeds and signatures are
  bound to it, so a new config is a new round.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .params import find_parameters

FIELD_PRIME = 2**31 - 1  # Shamir x-coordinates are client ids: 1 <= id < p
MIN_SESSION_ID_BYTES = 16
MAX_SESSION_ID_BYTES = 1024
MIN_BITS, MAX_BITS = 8, 64


@dataclass(frozen=True, kw_only=True)
class SecAggConfig:
    """One round's public parameters; construction raises ``ValueError`` naming the culprit."""

    client_ids: tuple[int, ...]
    vector_length: int
    threshold: int | None = None
    modulus_bits: int = 32
    neighbors: int | None = None
    malicious: bool = False
    session_id: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    def __post_init__(self) -> None:
        ids = _check_ids(self.client_ids)
        object.__setattr__(self, "client_ids", ids)
        _check_int("vector_length", self.vector_length, 1, 2**40)
        _check_int("modulus_bits", self.modulus_bits, MIN_BITS, MAX_BITS)
        if not isinstance(self.malicious, bool):
            raise ValueError(f"malicious must be a bool, got {self.malicious!r}")
        n = len(ids)
        if self.neighbors is not None:
            _check_int("neighbors", self.neighbors, 1, n - 1)
        if self.threshold is None:
            object.__setattr__(self, "threshold", (2 * (self.degree + 1)) // 3 + 1)
        _check_int("threshold", self.threshold, 2, self.degree + 1)
        if self.malicious and 2 * self.threshold <= self.degree + 1:
            raise ValueError(
                f"threshold must exceed half the neighbourhood ({self.degree + 1}) in malicious "
                f"mode, got {self.threshold}"
            )
        _check_session(self.session_id)

    @property
    def num_clients(self) -> int:
        """n: how many clients the round starts with."""
        return len(self.client_ids)

    @property
    def degree(self) -> int:
        """Neighbours of a client: k, or n - 1 for the complete graph."""
        return self.num_clients - 1 if self.neighbors is None else self.neighbors

    @property
    def complete(self) -> bool:
        """True when every client neighbours every other (plain SecAgg)."""
        return self.degree >= self.num_clients - 1

    @property
    def modulus(self) -> int:
        """R = 2^b: the group the inputs and the sum live in."""
        return 1 << self.modulus_bits

    @classmethod
    def for_secagg_plus(
        cls,
        client_ids: Sequence[int],
        vector_length: int,
        *,
        dropout: float = 0.05,
        corrupt: float = 0.05,
        **other_fields: Any,
    ) -> SecAggConfig:
        """A SecAgg+ config whose (k, t) the parameter finder picks for these rates."""
        for name in ("threshold", "neighbors"):
            if name in other_fields:
                raise ValueError(f"{name} is chosen by the parameter finder; do not pass it")
        ids = _check_ids(client_ids)
        params = find_parameters(
            len(ids), dropout=dropout, corrupt=corrupt,
            malicious=bool(other_fields.get("malicious", False)),
        )
        neighbors = None if params.complete else params.degree
        return cls(
            client_ids=ids, vector_length=vector_length, threshold=params.threshold,
            neighbors=neighbors, **other_fields,
        )


def _check_ids(client_ids: Sequence[int]) -> tuple[int, ...]:
    try:
        ids = tuple(client_ids)
    except TypeError:
        raise ValueError("client_ids must be a sequence of ints") from None
    for cid in ids:
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid < FIELD_PRIME:
            raise ValueError(f"client_ids must be ints in [1, 2^31 - 1), got {cid!r}")
    if len(set(ids)) != len(ids):
        raise ValueError("client_ids must be distinct")
    if len(ids) < 2:
        raise ValueError("client_ids must name at least 2 clients")
    return tuple(sorted(ids))


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")


def _check_session(session_id: object) -> None:
    if not isinstance(session_id, bytes):
        raise ValueError("session_id must be bytes")
    if not MIN_SESSION_ID_BYTES <= len(session_id) <= MAX_SESSION_ID_BYTES:
        raise ValueError(
            f"session_id must be {MIN_SESSION_ID_BYTES}..{MAX_SESSION_ID_BYTES} bytes, "
            f"got {len(session_id)}"
        )
