"""A server that deviates, colluding with chosen clients: the harness of the attack tests.

``Attack`` plays the server against real, honest ``SecAggClient`` objects. It routes the setup
stages through an honest ``SecAggServer`` (so every bundle reaches its recipient), then can hand
each client any survivor set, signature set or request it likes, drop whom it likes, tamper
with what passes through it, and read the whole state of the clients it corrupts (their keys,
their self-mask seeds and every share they hold). Everything the honest clients reveal is kept;
:meth:`Attack.recover` then tries, with all of it, to compute one target's input. A test asserts
that it cannot (``None``) whenever the library let the round go ahead.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from protocols import AbortError, SecAggConfig, SecAggError, Stage
from protocols.secagg import codec
from protocols.secagg.messages import (
    ConsistencySignature,
    MaskedInput,
    Signatures,
    Survivors,
    UnmaskShares,
)
from protocols.secagg.signing import consistency_payload
from secagg import keys, labels, shamir
from secagg.masking import accumulate_masks

from .helpers import Round

KEY, MASK = 0, 1


class Attack:
    """One round against honest clients, with ``corrupt`` clients on the server's side."""

    def __init__(self, config: SecAggConfig, corrupt: Iterable[int] = (),
                 seed: bytes = b"a" * 32) -> None:
        self.config = config
        self.round = Round(config, seed)
        self.corrupt = frozenset(corrupt)
        self.masked: dict[int, np.ndarray] = {}  # y_u as the server received it
        self.revealed: dict[int, dict[int, dict[int, bytes]]] = {KEY: {}, MASK: {}}
        self.refusals: dict[int, Exception] = {}  # honest clients that refused, and why

    @property
    def server(self):  # noqa: ANN201 - the honest SecAggServer used for routing
        return self.round.server

    @property
    def clients(self):  # noqa: ANN201
        return self.round.clients

    def neighbors(self, u: int) -> frozenset[int]:
        """u's neighbours in the graph its client built."""
        return self.clients[u]._neighbors

    # --- the setup stages, routed honestly --------------------------------------------------

    def setup(self, silent: Iterable[int] = ()) -> None:
        """Advertise (and reveal the graph nonces) and share keys; ``silent`` never answer."""
        quiet = set(silent)
        while self.server.stage is not Stage.MASKED_INPUT:
            self.round.stage([u for u in sorted(self.round.to_clients) if u not in quiet])

    def collect_masked(self, senders: Iterable[int]) -> None:
        """The masked inputs of ``senders``, as the server would receive them."""
        for u in senders:
            wire = self.round.client_step(u)
            self.masked[u] = codec.decode(wire, self.config, MaskedInput).vector

    # --- what the server tells each client ---------------------------------------------------

    def survivors(self, alive: Iterable[int], dead: Iterable[int]) -> bytes:
        return codec.encode(Survivors(tuple(sorted(alive)), tuple(sorted(dead))), self.config)

    def sign_as_corrupt(self, alive: tuple[int, ...]) -> dict[int, bytes]:
        """Consistency signatures of every corrupt client on ``alive`` (they sign anything)."""
        payload = consistency_payload(self.config, alive, self.server._seed)
        return {c: self.round.signing[c].sign(labels.CONSISTENCY_SIG, payload)
                for c in self.corrupt}

    def ask_signature(self, u: int, alive: Iterable[int], dead: Iterable[int]) -> bytes | None:
        """Malicious mode: show u a survivor set; its signature, or None if it refuses."""
        try:
            wire = self.clients[u].consistency_check(self.survivors(alive, dead))
        except SecAggError as exc:
            self.refusals[u] = exc
            return None
        return codec.decode(wire, self.config, ConsistencySignature).signature

    def ask_unmask(self, u: int, alive: Iterable[int], dead: Iterable[int],
                   signatures: dict[int, bytes] | None = None) -> bool:
        """Send u an unmask request for this survivor set; keep what it reveals."""
        alive, dead = tuple(sorted(alive)), tuple(sorted(dead))
        if self.config.malicious:
            sigs = tuple(sorted((signatures or {}).items()))
            msg = codec.encode(Signatures(alive, dead, sigs), self.config)
        else:
            msg = self.survivors(alive, dead)
        try:
            wire = self.clients[u].unmask(msg)
        except SecAggError as exc:
            self.refusals[u] = exc
            return False
        reply = codec.decode(wire, self.config, UnmaskShares)
        self._keep(u, reply)
        return True

    def _keep(self, holder: int, reply: UnmaskShares) -> None:
        for kind, pairs in ((MASK, reply.mask_shares), (KEY, reply.key_shares)):
            for owner, share in pairs:
                self.revealed[kind].setdefault(owner, {})[holder] = share

    # --- what the coalition can compute --------------------------------------------------------

    def shares_of(self, kind: int, owner: int) -> dict[int, bytes]:
        """Every share of ``owner``'s secret the coalition has: revealed, or held by a corrupt
        client (which hands over both kinds), or the owner's own if it is corrupt."""
        out = dict(self.revealed[kind].get(owner, {}))
        for c in self.corrupt:
            held = self.clients[c]._shares.get(owner)
            if held is not None:
                out[c] = held[kind]
        return out

    def secret(self, kind: int, owner: int) -> bytes | None:
        """``owner``'s s_sk (KEY) or b (MASK), if the coalition knows it or can rebuild it."""
        if owner in self.corrupt:
            s = self.clients[owner]._secrets
            return s.mask.private_bytes() if kind == KEY else s.self_seed
        shares = sorted(self.shares_of(kind, owner).items())
        if len(shares) < self.config.t:
            return None
        try:
            return shamir.reconstruct_secrets(shares[: self.config.t], self.config.t, 1)[0]
        except SecAggError:
            return None

    def recover(self, target: int) -> np.ndarray | None:
        """x_target from y_target, if the coalition can rebuild every mask on it; else None."""
        y = self.masked.get(target)
        b = self.secret(MASK, target)
        if y is None or b is None:
            return None
        seeds, signs = [b], [-1]
        for v in sorted(self.clients[target]._shares):  # the peers target masked with
            s_tv = self._pair_seed(target, v)
            if s_tv is None:
                return None
            seeds.append(s_tv)
            signs.append(-1 if target < v else 1)
        return accumulate_masks(y.copy(), seeds, signs, self.config.session_id,
                                self.config.modulus_bits)

    def _pair_seed(self, t: int, v: int) -> bytes | None:
        pk = {u: self.clients[u]._secrets.mask.public_bytes for u in (t, v)}
        for me, other in ((v, t), (t, v)):
            sk = self.secret(KEY, me)
            if sk is not None:
                pair = keys.MaskKeyPair.from_private_bytes(sk)
                return keys.pairwise_seed(pair, pk[other], self.config.session_id, me, other)
        return None

    def input_of(self, u: int) -> np.ndarray:
        return self.round.inputs[u]

    def recovered_input(self, target: int) -> bool:
        """Whether :meth:`recover` yields exactly the target's true input."""
        got = self.recover(target)
        return got is not None and np.array_equal(got, self.input_of(target))


def is_abort(exc: Exception | None) -> bool:
    """An AbortError: the client refused to go on (as opposed to a malformed message)."""
    return isinstance(exc, AbortError)
