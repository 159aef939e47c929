"""Micro benchmarks of packed Paillier at 3072 bits: the unit costs behind bench/paillier_compare.

One encryption (one packed plaintext = up to 78 values at n = 100), and its two halves (offline:
the random factor r^n mod n^2; online: g^m times it), the server's check-and-add of
one client's message for m = 10,000, one CRT decryption, and packing/unpacking 10,000 values.
Run: ``.venv/bin/python -m pytest bench/micro/test_bench_paillier.py --benchmark-enable``.
"""

from __future__ import annotations

import numpy as np
import pytest
from phe import util as phe_util

from protocols.paillier import PaillierConfig, PaillierDecryptor, PaillierKeyPair, PaillierServer
from protocols.paillier import codec as codec
from protocols.paillier import keys as keys
from secagg.csprng import AesCtrRandom

M, N, KEY_BITS = 10_000, 100, 3072


@pytest.fixture(scope="module")
def setup():
    rng = AesCtrRandom(b"bench-paillier".ljust(32, b"\0"))
    keypair = PaillierKeyPair.generate(KEY_BITS, rng)
    config = PaillierConfig(client_ids=tuple(range(1, N + 1)), vector_length=M,
                            key_bits=KEY_BITS, session_id=b"bench-paillier-session")
    dec = PaillierDecryptor(config, keypair)
    raw = np.empty(M, dtype=np.uint32)
    rng.fill(raw)
    x = raw.view(np.int32).astype(np.int64)
    plains = config.layout.pack(x)
    # Valid ciphertexts made cheaply (one shared r^n): the server's cost does not depend on r.
    n, n2 = keypair.n, keypair.n**2
    r_n = pow(keys.random_unit(n, rng), n, n2)
    cts = tuple((1 + n * m) * r_n % n2 for m in plains)
    msg = codec.encode_input(codec.EncryptedInput(1, dec._key_id, cts), config)
    return {"keypair": keypair, "config": config, "dec": dec, "x": x, "plains": plains,
            "msg": msg, "rng": rng, "cts": cts}


def test_bench_encrypt_one_packed_plaintext(benchmark, setup) -> None:
    public, rng = setup["keypair"]._public, setup["rng"]
    benchmark.extra_info["gmpy2"] = phe_util.HAVE_GMP
    benchmark.pedantic(keys.encrypt, args=(public, setup["plains"][:1], rng), rounds=5)


def test_bench_offline_one_factor(benchmark, setup) -> None:
    public, rng = setup["keypair"]._public, setup["rng"]
    benchmark.extra_info["gmpy2"] = phe_util.HAVE_GMP
    benchmark.pedantic(keys.obfuscator, args=(public, rng), rounds=5)


def test_bench_online_one_packed_plaintext(benchmark, setup) -> None:
    public = setup["keypair"]._public
    r_n = keys.obfuscator(public, setup["rng"])
    benchmark(keys.encrypt_with, public, setup["plains"][0], r_n)


def test_bench_server_receive_one_client(benchmark, setup) -> None:
    config, dec, msg = setup["config"], setup["dec"], setup["msg"]

    def fresh():
        return (PaillierServer(config, dec.public_key), 1, msg), {}

    benchmark.extra_info["ciphertexts"] = config.num_ciphertexts
    benchmark.pedantic(lambda s, c, d: s.receive(c, d), setup=fresh, rounds=5)


def test_bench_decrypt_one_ciphertext(benchmark, setup) -> None:
    private = setup["keypair"]._private
    benchmark.pedantic(private.raw_decrypt, args=(setup["cts"][0],), rounds=5)


def test_bench_pack(benchmark, setup) -> None:
    layout, x = setup["config"].layout, setup["x"]
    benchmark(layout.pack, x)


def test_bench_unpack_sum(benchmark, setup) -> None:
    layout, plains = setup["config"].layout, setup["plains"]
    out = benchmark(layout.unpack_sum, plains, M, 1)
    assert np.array_equal(out, setup["x"])
