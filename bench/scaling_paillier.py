"""One packed-Paillier round for ``python -m bench scaling``, timed per role.

The Paillier trust model is in protocols/paillier/. Roles: clients encrypt (``PaillierClient``:
decode the public key and precompute the random factors r^n mod n^2, offline; then pack,
encrypt and encode, online); the server validates and multiplies every arriving ciphertext into
the running sum (``PaillierServer.receive`` + ``aggregate``); the **key holder**
(``PaillierDecryptor``, not the server) decrypts the one aggregate. Dropouts never send and are
simply not in the sum.

Sampling, stated in every output row (``paillier_encrypted_clients``): a 3072-bit encryption is
one 3072-bit-exponent powmod mod a 6144-bit n^2 (about 30 ms here with gmpy2, a quarter of a
second without), so encrypting every client of a 200-client round would take minutes to hours
and say nothing the sampled clients do not. ``sample`` clients (the first senders) really
encrypt; client mean/max seconds are over them. Every other sender's message carries one of
those clients' ciphertexts re-encoded under its own id (not re-encrypted): the server still
validates and multiplies n distinct messages, whose cost does not depend on what the
ciphertexts hold, and the decrypted sum is checked against the inputs the ciphertexts really
carry. With ``sample >= senders`` every client encrypts for real.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from protocols.paillier import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierServer,
)
from protocols.paillier import codec as codec
from protocols.paillier import keys as keys

VALUE_BITS = 32


def make_config(n: int, dim: int, key_bits: int) -> PaillierConfig:
    """The round's public parameters; keys below 2048 bits only on request (tests)."""
    return PaillierConfig(client_ids=tuple(range(1, n + 1)), vector_length=dim,
                          value_bits=VALUE_BITS, key_bits=key_bits,
                          allow_insecure_key_size=key_bits < 2048)


def run_paillier(n: int, dim: int, rate: float, seed: int, keypair: PaillierKeyPair,
                 sample: int) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """One round; returns (flat row, per-stage stats) like ``bench.scaling.run_one``."""
    gen = np.random.default_rng(seed)  # simulation choices and input values only, no secret
    config = make_config(n, dim, keypair.key_bits)
    ids = config.client_ids
    drop = set(gen.choice(ids, int(rate * n), replace=False).tolist())
    senders = [u for u in ids if u not in drop]
    measured = senders[: max(1, sample)]
    inputs = {u: gen.integers(0, 1000, dim, dtype=np.int64) for u in measured}
    decryptor = PaillierDecryptor(config, keypair)
    public = decryptor.public_key
    offline_s, online_s, messages = [], [], []
    for u in measured:
        t0 = time.perf_counter()
        client = PaillierClient(config, u, public)
        client.precompute()
        t1 = time.perf_counter()
        messages.append(client.encrypt(inputs[u]))
        offline_s.append(t1 - t0)
        online_s.append(time.perf_counter() - t1)
    enc_s = [a + b for a, b in zip(offline_s, online_s, strict=True)]
    server_s, agg, up, want = _serve(config, public, keypair, senders, measured, messages, inputs)
    t0 = time.perf_counter()
    total = decryptor.decrypt(agg)
    keyholder_s = time.perf_counter() - t0
    if not np.array_equal(total, want) or decryptor.included != frozenset(senders):
        raise AssertionError(f"Paillier sum is wrong at n={n}, dim={dim}")
    row = {
        "protocol": "paillier", "n": n, "dim": dim, "dropout": rate, "included": len(senders),
        "server_s": server_s, "keyholder_s": keyholder_s,
        "client_mean_s": float(np.mean(enc_s)), "client_max_s": max(enc_s),
        "bytes_up_per_client": float(np.mean(up)), "bytes_down_per_client": float(len(public)),
        "paillier_key_bits": keypair.key_bits, "paillier_encrypted_clients": len(measured),
        "paillier_ciphertexts": config.num_ciphertexts,
        "paillier_offline_s": float(np.mean(offline_s)),
        "paillier_online_s": float(np.mean(online_s)),
    }
    stages = {
        "precompute": {"server_s": 0.0, "client_mean_s": row["paillier_offline_s"],
                       "client_max_s": max(offline_s)},
        "encrypt": {"server_s": 0.0, "client_mean_s": row["paillier_online_s"],
                    "client_max_s": max(online_s)},
        "add": {"server_s": row["server_s"], "client_mean_s": 0.0},
        "decrypt": {"keyholder_s": keyholder_s, "server_s": 0.0, "client_mean_s": 0.0},
    }
    return row, stages


def _serve(config: PaillierConfig, public: bytes, keypair: PaillierKeyPair, senders: list[int],
           measured: list[int], messages: list[bytes], inputs: dict[int, np.ndarray]):
    """The server's part, timed; re-encoding sampled ciphertexts for other senders is not."""
    key_id = keys.key_id(keypair.n, config.key_bytes, config.session_id)
    nsquare = keypair.n * keypair.n
    cts = [codec.decode_input(m, config, key_id, nsquare).ciphertexts for m in messages]
    seconds, up = 0.0, []
    want = np.zeros(config.vector_length, dtype=np.int64)
    t0 = time.perf_counter()
    server = PaillierServer(config, public)
    seconds += time.perf_counter() - t0
    for i, u in enumerate(senders):
        j = i % len(measured)
        data = messages[i] if i < len(measured) else codec.encode_input(
            codec.EncryptedInput(u, key_id, cts[j]), config)
        want += inputs[measured[j]]
        up.append(len(data))
        t0 = time.perf_counter()
        server.receive(u, data)
        seconds += time.perf_counter() - t0
    t0 = time.perf_counter()
    agg = server.aggregate()
    seconds += time.perf_counter() - t0
    return seconds, agg, up, want


def estimate_bytes(n: int, dim: int, key_bits: int, sample: int) -> int:
    """Rough peak memory of one round: sampled inputs, messages, the running sum."""
    cts = make_config(max(n, 2), dim, key_bits).num_ciphertexts
    return sample * dim * 8 + (sample + 4) * cts * 2 * (key_bits // 8) * 3
