"""``SecAggConfig``: the parameters every party of one round shares, validated once.

Defaults and their reasoning (the user-facing version with a table is ``docs/parameters.md``):

- ``threshold`` for the complete graph (SecAgg) is ⌊2n/3⌋ + 1, Bonawitz et al.'s choice: it is
  more than half of the clients (so a malicious server cannot collect both kinds of share of one
  client) and tolerates a third of them dropping out. On a sparse graph left out, it is the
  smallest t that meets the finder's bounds for k and the budgets.
- The budgets ``max_dropouts`` (D: clients that may fail to reach the masked-input stage) and
  ``max_corrupt`` (C: clients that may collude with the server) are part of the config, because
  the guarantee only holds inside them: server and clients abort a round with more than D
  dropouts. Every sum then holds at least n - D - C honest inputs, and the config refuses
  budgets that leave fewer than two (a sum of one honest input and the colluders' is that
  input). On the complete graph the budgets default to everything t tolerates (D = n - t,
  C = min(t - 2, 2t - n - 1 in malicious mode)); a sparse graph must state them
  (``for_secagg_plus`` does).
- A sparse graph (``neighbors`` = k) is checked against the parameter finder's bounds for its
  budgets (:func:`protocols.secagg.params.check_sparse`): a (k, t) that lets the honest survivors be cut
  apart, lets a client's corrupt neighbours rebuild its secrets, or (malicious mode) allows a
  split view, 2t <= k + 1 + a, is refused with the reason.
- ``for_secagg_plus`` asks :func:`protocols.secagg.params.find_parameters` for (k, t) and the budgets at
  the stated dropout and corruption rates (security 2^-40, failure 2^-20).
- ``session_id`` defaults to 32 fresh bytes from ``os.urandom``: keys, seeds and signatures are
  bound to it, so a new config is a new round.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.checks import check_ids, check_int, check_session
from secagg.errors import ConfigError

from .params import MIN_SPARSE_CLIENTS, check_sparse, find_parameters, sparse_threshold

MIN_BITS, MAX_BITS = 8, 64


@dataclass(frozen=True, kw_only=True)
class SecAggConfig:
    """One round's public parameters; construction raises ``ValueError`` naming the culprit."""

    client_ids: tuple[int, ...]
    vector_length: int
    # left out (None), each of these three is chosen in __post_init__: an int from then on
    threshold: int = None  # type: ignore[assignment]
    modulus_bits: int = 32
    neighbors: int | None = None
    malicious: bool = False
    max_dropouts: int = None  # type: ignore[assignment]
    max_corrupt: int = None  # type: ignore[assignment]
    session_id: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    corrupt_neighbors: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = check_ids(self.client_ids)
        object.__setattr__(self, "client_ids", ids)
        check_int("vector_length", self.vector_length, 1, 2**40)
        check_int("modulus_bits", self.modulus_bits, MIN_BITS, MAX_BITS)
        if not isinstance(self.malicious, bool):
            raise ConfigError(f"malicious must be a bool, got {self.malicious!r}")
        n = len(ids)
        if self.neighbors is not None:
            check_int("neighbors", self.neighbors, 1, n - 1)
        if self.complete:
            if self.threshold is None:
                object.__setattr__(self, "threshold", (2 * n) // 3 + 1)
            check_int("threshold", self.threshold, 2, n)
            self._check_complete_budgets()
        else:
            self._check_sparse_budgets()
        check_session(self.session_id)

    def _check_complete_budgets(self) -> None:
        """SecAgg: D <= n - t (t must survive), C < t, 2t > n + C in malicious mode, and two
        honest inputs in every sum (n - D - C >= 2); by default all of that the threshold allows."""
        n, t = self.num_clients, self.t
        if self.malicious and 2 * t <= n:
            raise ConfigError(f"threshold must exceed half the clients ({n}) in malicious mode, "
                             f"got {t}")
        self._set_budget("max_dropouts", n - t, n - t)
        tolerated = min(t - 1, n - self.max_dropouts - 2)
        if self.malicious:
            tolerated = min(tolerated, 2 * t - n - 1)
        if tolerated < 0:
            raise ConfigError(f"max_dropouts={self.max_dropouts} leaves fewer than two honest "
                             f"inputs in a sum of {n - self.max_dropouts}: lower it")
        self._set_budget("max_corrupt", tolerated, tolerated)
        object.__setattr__(self, "corrupt_neighbors", self.max_corrupt)

    def _check_sparse_budgets(self) -> None:
        """SecAgg+: the budgets must be stated, and (k, t) must meet the finder's bounds."""
        if self.max_dropouts is None or self.max_corrupt is None:
            raise ConfigError(
                "a sparse graph (neighbors=k) needs max_dropouts and max_corrupt, the budgets its "
                "(k, t) were planned for; SecAggConfig.for_secagg_plus picks all four"
            )
        n, k = self.num_clients, self.degree
        self._set_budget("max_dropouts", n - 1, n - 1)
        self._set_budget("max_corrupt", n - 1, n - 1)
        if self.threshold is None:
            t = sparse_threshold(n, k, self.max_dropouts, self.max_corrupt, self.malicious)
            if t is None:
                raise ConfigError(f"no threshold meets the bounds for neighbors={k} with these "
                                 "budgets: raise neighbors or lower the budgets")
            object.__setattr__(self, "threshold", t)
        check_int("threshold", self.threshold, 2, k)
        a = check_sparse(n, k, self.t, self.max_dropouts, self.max_corrupt, self.malicious)
        object.__setattr__(self, "corrupt_neighbors", a)

    def _set_budget(self, name: str, default: int, high: int) -> None:
        value = getattr(self, name)
        if value is None:
            value = default
            object.__setattr__(self, name, value)
        check_int(name, value, 0, high)

    @property
    def t(self) -> int:
        """The Shamir threshold t (short for ``threshold``)."""
        return self.threshold

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
    def graph_from_clients(self) -> bool:
        """Malicious SecAgg+: the graph is seeded by a commit-and-reveal among the clients, so
        the server (which picks the session id) cannot choose it."""
        return self.malicious and not self.complete

    @property
    def min_survivors(self) -> int:
        """n - D: the fewest clients whose masked inputs a round may complete with."""
        return self.num_clients - self.max_dropouts

    @property
    def min_honest_inputs(self) -> int:
        """n - D - C: the fewest honest inputs in any sum the round releases (at least 2)."""
        return self.min_survivors - self.max_corrupt

    @property
    def modulus(self) -> int:
        """R = 2^b: the group the inputs and the sum live in."""
        return 1 << self.modulus_bits

    def to_bytes(self) -> bytes:
        """The config's versioned wire encoding, for a server to ship the round to its clients."""
        from .codec import encode_config  # noqa: PLC0415 - codec imports this module

        return encode_config(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> SecAggConfig:
        """Parse and validate a config; anything malformed or unsafe is ``MalformedMessage``."""
        from .codec import decode_config  # noqa: PLC0415 - codec imports this module

        return decode_config(data)

    @classmethod
    def for_secagg_plus(
        cls,
        client_ids: Sequence[int],
        vector_length: int,
        *,
        dropout: float = 0.05,
        corrupt: float = 0.05,
        min_sparse_clients: int = MIN_SPARSE_CLIENTS,
        **other_fields: Any,
    ) -> SecAggConfig:
        """A config whose (k, t) and budgets the parameter finder picks for these rates (the
        complete graph below ``min_sparse_clients`` clients: see :mod:`protocols.secagg.params`)."""
        for name in ("threshold", "neighbors", "max_dropouts", "max_corrupt"):
            if name in other_fields:
                raise ConfigError(f"{name} is chosen by the parameter finder; do not pass it")
        ids = check_ids(client_ids)
        params = find_parameters(
            len(ids), dropout=dropout, corrupt=corrupt,
            malicious=bool(other_fields.get("malicious", False)),
            min_sparse_clients=min_sparse_clients,
        )
        return cls(
            client_ids=ids, vector_length=vector_length, threshold=params.threshold,
            neighbors=None if params.complete else params.degree,
            max_dropouts=params.max_dropouts, max_corrupt=params.max_corrupt, **other_fields,
        )


