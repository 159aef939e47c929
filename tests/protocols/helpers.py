"""Shared helpers for the protocol tests: configs, inputs, expected sums, a manual round driver."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from protocols import SecAggClient, SecAggConfig, SecAggServer, Stage
from secagg.csprng import AesCtrRandom
from secagg.keys import SigningKeyPair
from secagg.prg import dtype_for_bits

SESSION = b"test-session-0123456789"


def random_inputs(config: SecAggConfig, seed: int) -> dict[int, np.ndarray]:
    """Uniform inputs in [0, 2^b) per client (test data, so numpy's generator is fine)."""
    gen = np.random.default_rng(seed)
    hi = (1 << config.modulus_bits) - 1
    return {
        u: gen.integers(0, hi, config.vector_length, dtype=np.uint64, endpoint=True).astype(
            dtype_for_bits(config.modulus_bits)
        )
        for u in config.client_ids
    }


def expected_sum(config: SecAggConfig, inputs: dict[int, np.ndarray], ids: Iterable[int]) -> np.ndarray:
    """Σ x_u mod 2^b with Python integers (obviously right)."""
    mod = config.modulus
    total = [0] * config.vector_length
    for u in ids:
        total = [(a + int(b)) % mod for a, b in zip(total, inputs[u], strict=True)]
    return np.array(total, dtype=dtype_for_bits(config.modulus_bits))


class Round:
    """Drives server and clients by hand so a test can tamper with any message."""

    def __init__(self, config: SecAggConfig, seed: bytes = b"r" * 32) -> None:
        self.config = config
        self.rng = AesCtrRandom(seed=seed)
        signing = dict.fromkeys(config.client_ids)
        verify = None
        if config.malicious:
            signing = {u: SigningKeyPair.generate(self.rng) for u in config.client_ids}
            verify = {u: k.verify_key_bytes for u, k in signing.items()}
        self.signing = signing
        self.verify = verify
        self.server = SecAggServer(config, verify)
        self.clients = {
            u: SecAggClient(config, u, signing[u], verify, rng=self.rng) for u in config.client_ids
        }
        self.inputs = random_inputs(config, 7)
        self.to_clients: dict[int, bytes | None] = dict.fromkeys(config.client_ids)

    def client_step(self, u: int, msg: bytes | None = None) -> bytes:
        """Run client u's current stage on ``msg`` (default: what the server last sent it)."""
        c = self.clients[u]
        msg = self.to_clients[u] if msg is None else msg
        return c.respond(msg, self.inputs[u])

    def replies(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """Every listed (default: every addressed) client's message for the current stage."""
        ids = sorted(self.to_clients) if ids is None else ids
        return {u: self.client_step(u) for u in ids}

    def deliver(self, replies: dict[int, bytes]) -> None:
        for u, data in replies.items():
            self.server.receive(u, data)

    def close(self) -> dict[int, bytes]:
        self.to_clients = dict(self.server.close_stage())
        return self.to_clients

    def stage(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        """One whole stage: replies in, close, and the server's messages out."""
        self.deliver(self.replies(ids))
        return self.close()

    def finish(self) -> np.ndarray:
        while self.server.stage not in (Stage.DONE, Stage.ABORTED):
            self.stage()
        return self.server.result()

    def check(self) -> None:
        """The round's result is exactly the sum of U3's inputs."""
        got = self.finish()
        want = expected_sum(self.config, self.inputs, self.server.included)
        np.testing.assert_array_equal(got, want)


def config(n: int, **kw: object) -> SecAggConfig:
    """A test config; a sparse one is planned for one dropout and one corrupt client unless the
    test says otherwise."""
    base: dict[str, object] = {"client_ids": range(1, n + 1), "vector_length": 16,
                               "session_id": SESSION}
    if kw.get("neighbors") is not None:
        base.update(max_dropouts=1, max_corrupt=1)
    base.update(kw)
    return SecAggConfig(**base)  # type: ignore[arg-type]
