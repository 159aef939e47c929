"""The Paillier parties: key pair, decryptor, client and server, and the in-process round.

The trust model, the packing and the comparison with masking are in the package docstring
(:mod:`protocols.paillier`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from phe import paillier as _phe

from secagg import csprng
from secagg.csprng import RandomSource
from secagg.errors import AbortError, ConfigError, OutOfOrder, ProtocolViolation

from . import codec, keys
from .config import PaillierConfig
from .packing import SlotLayout

__all__ = [
    "PaillierConfig",
    "PaillierKeyPair",
    "PaillierDecryptor",
    "PaillierClient",
    "PaillierServer",
    "PaillierResult",
    "SlotLayout",
    "aggregate_paillier",
]


class PaillierKeyPair:
    """An opaque Paillier key pair (modulus of exactly ``key_bits`` bits); does not print or pickle."""

    __slots__ = ("_public", "_private")

    def __init__(self, public: _phe.PaillierPublicKey, private: _phe.PaillierPrivateKey) -> None:
        self._public, self._private = public, private

    @classmethod
    def generate(cls, key_bits: int = 3072, rng: RandomSource | None = None) -> PaillierKeyPair:
        """Fresh key pair from the CSPRNG (``rng`` for deterministic tests)."""
        return cls(*keys.generate_keypair(key_bits, rng))

    @property
    def n(self) -> int:
        """The public modulus."""
        return self._public.n

    @property
    def key_bits(self) -> int:
        """Bits of the modulus."""
        return self._public.n.bit_length()

    def __repr__(self) -> str:
        return f"PaillierKeyPair(<{self.key_bits}-bit, private>)"

    def __reduce__(self):  # noqa: D105 - the private key must not be pickled
        raise TypeError("PaillierKeyPair holds a private key and cannot be pickled")


class PaillierDecryptor:
    """The key holder: publishes the public key and decrypts one aggregate per session."""

    def __init__(
        self, config: PaillierConfig, keypair: PaillierKeyPair | None = None, *,
        rng: RandomSource | None = None,
    ) -> None:
        if keypair is None:
            keypair = PaillierKeyPair.generate(config.key_bits, rng)
        if keypair.key_bits != config.key_bits:
            raise ValueError(f"key pair has {keypair.key_bits} bits, config says {config.key_bits}")
        self._config, self._keys = config, keypair
        self._key_id = keys.key_id(keypair.n, config.key_bytes, config.session_id)
        self._included: frozenset[int] | None = None

    @property
    def public_key(self) -> bytes:
        """The wire bytes clients and the server start from."""
        return codec.encode_public_key(codec.PublicKeyMessage(self._keys.n), self._config)

    @property
    def included(self) -> frozenset[int]:
        """Clients whose inputs the decrypted sum holds (empty before :meth:`decrypt`)."""
        return self._included or frozenset()

    def decrypt(self, data: bytes) -> np.ndarray:
        """The signed sum (int64) from the server's aggregate; only once per session.

        Header checks (session, key id, ``min_clients``, ranges) leave the decryptor usable; once
        decryption starts the session is spent even if the plaintext then fails its slot checks.
        """
        if self._included is not None:
            raise OutOfOrder("this session's sum was already decrypted")
        n = self._keys.n
        msg = codec.decode_sum(data, self._config, self._key_id, n * n)
        if len(msg.included) < self._config.min_clients:
            raise ProtocolViolation(
                f"aggregate of {len(msg.included)} inputs; at least {self._config.min_clients} needed"
            )
        codec.check_units(msg.ciphertexts, n)
        # Spent before decrypting: a failed check must not become a reusable oracle on slots.
        self._included = frozenset()
        plains = [self._keys._private.raw_decrypt(c) for c in msg.ciphertexts]
        out = self._config.layout.unpack_sum(plains, self._config.vector_length, len(msg.included))
        self._included = frozenset(msg.included)
        return out


class PaillierClient:
    """One client: packs and encrypts its vector once under the session's public key.

    Offline/online: :meth:`precompute` does the expensive part of encryption, one exponentiation
    r^n mod n^2 per ciphertext, before the input exists (once the public key is known, e.g. while
    the client trains); :meth:`encrypt` then only packs and multiplies. Each precomputed factor
    serves one ciphertext and is discarded. Factors still missing when :meth:`encrypt` runs are
    drawn there (the one-call path, slower); call ``precompute()`` until :attr:`missing` is 0 to
    keep the online step cheap. The factors are secret: the client neither prints nor pickles.
    """

    def __init__(self, config: PaillierConfig, client_id: int, public_key: bytes) -> None:
        if client_id not in config.client_ids:
            raise ValueError(f"client_id {client_id} is not in config.client_ids")
        n = codec.decode_public_key(public_key, config).n
        self._config, self._id = config, client_id
        self._public = _phe.PaillierPublicKey(n)
        self._key_id = keys.key_id(n, config.key_bytes, config.session_id)
        self._obfuscators: deque[int] = deque()
        self._sent = False

    @property
    def precomputed(self) -> int:
        """Random factors ready for :meth:`encrypt` (each used for one ciphertext)."""
        return len(self._obfuscators)

    @property
    def missing(self) -> int:
        """Factors :meth:`encrypt` would still have to draw online (0 once the input is sent)."""
        return 0 if self._sent else self._config.num_ciphertexts - len(self._obfuscators)

    def precompute(self, count: int | None = None, rng: RandomSource | None = None) -> int:
        """Offline: draw ``count`` factors (default: every missing one); returns :attr:`missing`.

        Can be called in chunks (the caller owns time); more than are missing is refused.
        """
        if self._sent:
            raise OutOfOrder("this client already sent its input in this session")
        missing = self.missing
        count = missing if count is None else count
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= missing:
            raise ConfigError(f"count must be an int in [0, {missing}] (the factors still "
                              f"missing), got {count!r}")
        source = csprng.resolve(rng)
        for _ in range(count):
            self._obfuscators.append(keys.obfuscator(self._public, source))
        return self.missing

    def encrypt(self, vector: np.ndarray, rng: RandomSource | None = None) -> bytes:
        """Wire bytes of the encrypted vector (signed ints in [-2^(v-1), 2^(v-1))).

        Uses the precomputed factors first, then draws the missing ones from ``rng``.
        """
        if self._sent:
            raise OutOfOrder("this client already sent its input in this session")
        layout = self._config.layout
        values = layout.check_values(vector, self._config.vector_length)
        source = csprng.resolve(rng)
        cts = [keys.encrypt_with(self._public, m, self._take_obfuscator(source))
               for m in layout.pack(values)]
        self._sent = True
        return codec.encode_input(codec.EncryptedInput(self._id, self._key_id, tuple(cts)),
                                  self._config)

    def _take_obfuscator(self, rng: RandomSource) -> int:
        """The next precomputed factor, removed so it is never used twice, or a fresh one."""
        if self._obfuscators:
            return self._obfuscators.popleft()
        return keys.obfuscator(self._public, rng)

    def __repr__(self) -> str:
        return f"PaillierClient(id={self._id}, precomputed={self.precomputed})"

    def __reduce__(self):  # noqa: D105 - the precomputed factors are secret
        raise TypeError("PaillierClient holds secret encryption factors and cannot be pickled")


class PaillierServer:
    """The aggregator: validates each client's ciphertexts and multiplies them into a running sum."""

    def __init__(self, config: PaillierConfig, public_key: bytes) -> None:
        self._config = config
        self._n = codec.decode_public_key(public_key, config).n
        self._nsquare = self._n * self._n
        self._key_id = keys.key_id(self._n, config.key_bytes, config.session_id)
        self._acc = [1] * config.num_ciphertexts  # 1 = Enc(0) with r = 1, the identity
        self._received: set[int] = set()
        self._closed = False

    @property
    def included(self) -> frozenset[int]:
        """Clients whose ciphertexts are in the running sum."""
        return frozenset(self._received)

    def receive(self, client_id: int, data: bytes) -> None:
        """Check one client's message and add it; a typed error leaves the state unchanged."""
        if self._closed:
            raise OutOfOrder("the aggregate was already produced")
        msg = codec.decode_input(data, self._config, self._key_id, self._nsquare)
        if msg.sender != client_id:
            raise ProtocolViolation(f"message from client {msg.sender} arrived as {client_id}")
        if client_id in self._received:
            raise ProtocolViolation(f"client {client_id} already sent its input")
        codec.check_units(msg.ciphertexts, self._n)
        keys.add_into(self._acc, list(msg.ciphertexts), self._nsquare)
        self._received.add(client_id)

    def aggregate(self) -> bytes:
        """Close the round with what arrived; the wire bytes for the decryptor."""
        if self._closed:
            raise OutOfOrder("the aggregate was already produced")
        got = len(self._received)
        if got < self._config.min_clients:
            raise AbortError("aggregate", self._config.min_clients, got, "too few inputs arrived")
        self._closed = True
        msg = codec.EncryptedSum(self._key_id, tuple(sorted(self._received)), tuple(self._acc))
        return codec.encode_sum(msg, self._config)


@dataclass(frozen=True)
class PaillierResult:
    """What :func:`aggregate_paillier` returns: the signed sum, who is in it, and costs."""

    sum: np.ndarray
    included: frozenset[int]
    stats: dict[str, float]


def aggregate_paillier(
    vectors: Mapping[int, np.ndarray], config: PaillierConfig, *,
    keypair: PaillierKeyPair | None = None, rng: RandomSource | None = None,
    clock: Callable[[], float] | None = None,
) -> PaillierResult:
    """Run every party in process: the clients in ``vectors`` send, the others are dropouts.

    ``clock`` (e.g. ``time.perf_counter``) times each role; ``protocols`` keeps no clock of its
    own (sans-IO), so without one every ``*_s`` figure is 0.0. A ``keypair`` may be reused.
    Clients precompute their factors, then encrypt: ``client_mean_s``/``client_max_s`` are the
    whole client cost, ``client_offline_mean_s`` and ``client_online_mean_s`` its two parts.
    """
    tick = clock or (lambda: 0.0)
    t0 = tick()
    decryptor = PaillierDecryptor(config, keypair, rng=rng)
    keygen_s, public = tick() - t0, decryptor.public_key
    offline_s, online_s, up = [], [], []
    server_s = 0.0
    t0 = tick()
    server = PaillierServer(config, public)
    server_s += tick() - t0
    for cid in sorted(vectors):
        data, times = _client_send(config, cid, public, vectors[cid], rng, tick)
        t1 = tick()
        server.receive(cid, data)
        server_s += tick() - t1
        offline_s.append(times[0])
        online_s.append(times[1])
        up.append(len(data))
    t0 = tick()
    agg = server.aggregate()
    t1 = tick()
    total = decryptor.decrypt(agg)
    client_s = [a + b for a, b in zip(offline_s, online_s, strict=True)]
    stats = {
        "keygen_s": keygen_s, "server_s": server_s + (t1 - t0), "decryptor_s": tick() - t1,
        "client_mean_s": _mean(client_s), "client_max_s": max(client_s, default=0.0),
        "client_offline_mean_s": _mean(offline_s), "client_online_mean_s": _mean(online_s),
        "client_online_max_s": max(online_s, default=0.0),
        "bytes_up_per_client": _mean(up),
        "bytes_down_per_client": float(len(public)), "bytes_to_decryptor": float(len(agg)),
        "ciphertexts_per_client": float(config.num_ciphertexts),
        "slots_per_ciphertext": float(config.layout.slots),
        "slot_bits": float(config.layout.slot_bits),
    }
    return PaillierResult(total, decryptor.included, stats)


def _client_send(config: PaillierConfig, cid: int, public: bytes, vector: np.ndarray,
                 rng: RandomSource | None, tick: Callable[[], float]
                 ) -> tuple[bytes, tuple[float, float]]:
    """One client's message and its (offline, online) seconds."""
    t0 = tick()
    client = PaillierClient(config, cid, public)
    client.precompute(rng=rng)
    t1 = tick()
    data = client.encrypt(vector, rng)
    return data, (t1 - t0, tick() - t1)


def _mean(values: list[float] | list[int]) -> float:
    return float(np.mean(values)) if values else 0.0
