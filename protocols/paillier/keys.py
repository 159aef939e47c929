"""Paillier keys (lower layer): prime generation from our CSPRNG, encryption randomness, key ids.

Keys are ``phe`` objects (g = n + 1, CRT decryption). In production the primes come from
OpenSSL's RSA prime generation (through ``cryptography``); with an explicit
:class:`secagg.csprng.RandomSource` they come from a Miller-Rabin generator on that source, so
tests can be deterministic. (``phe``'s own generator is a
CSPRNG too: candidates from ``SystemRandom``/``os.urandom``; but without gmpy2 it goes through
pycryptodome or a Miller-Rabin whose witnesses come from ``random``.) Modular arithmetic goes
through ``phe.util.powmod``/``mulmod``, which use GMP through gmpy2 (a dependency) and fall back
to Python's ``pow`` only when gmpy2 cannot be imported (about 8x slower at 3072 bits).

Encryption is split the way ``phe`` itself splits it (``raw_encrypt`` with r = 1, then
``EncryptedNumber.obfuscate``'s multiplication by r^n): :func:`obfuscator` is the expensive,
input-independent half (r^n mod n^2, one exponentiation), :func:`encrypt_with` the cheap half
(g^m times it, one multiplication), so a client can do the first before it has its input.
"""

from __future__ import annotations

import math

from cryptography.hazmat.primitives.asymmetric import rsa
from phe import paillier, util

from secagg import csprng, kdf, labels
from secagg.csprng import RandomSource

KEY_ID_BYTES = 16
_SMALL_PRIMES = [p for p in range(3, 4096, 2) if all(p % d for d in range(3, math.isqrt(p) + 1, 2))]
SMALL_PRIMES_PRODUCT = math.prod(_SMALL_PRIMES)
"""Product of the odd primes below 4096: one gcd sieves a candidate (or screens a modulus)."""


def _miller_rabin_rounds(bits: int) -> int:
    # Random candidates: FIPS 186-4 Table C.2 asks 4-5 rounds at 1024-1536 bits; we take 8.
    # Smaller (test-only) primes get 40, which is still cheap.
    return 8 if bits >= 1024 else 40


def _is_probable_prime(n: int, rounds: int, rng: RandomSource) -> bool:
    """Miller-Rabin with CSPRNG witnesses (n is odd, coprime to the small primes)."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = 2 + csprng.randbelow(rng, n - 3)
        x = util.powmod(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int, rng: RandomSource) -> int:
    """A uniformly drawn ``bits``-bit prime with its top two bits set (so p*q has 2*bits bits)."""
    if bits < 16:
        raise ValueError("primes must have at least 16 bits")
    nbytes = (bits + 7) // 8
    top = (1 << (bits - 1)) | (1 << (bits - 2)) | 1
    rounds = _miller_rabin_rounds(bits)
    while True:
        cand = (int.from_bytes(rng.token_bytes(nbytes), "big") >> (nbytes * 8 - bits)) | top
        if math.gcd(cand, SMALL_PRIMES_PRODUCT) == 1 and _is_probable_prime(cand, rounds, rng):
            return cand


def generate_keypair(
    key_bits: int, rng: RandomSource | None = None
) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    """A Paillier key pair whose modulus n has exactly ``key_bits`` bits (two balanced primes).

    Without ``rng`` the primes come from OpenSSL's vetted RSA prime generation (through
    ``cryptography``); an explicit ``rng`` selects our Miller-Rabin generator on that source, so
    tests can make small, reproducible keys.
    """
    if key_bits % 2 or key_bits < 64:
        raise ValueError(f"key_bits must be even and >= 64, got {key_bits}")
    next_primes = _openssl_primes if rng is None and key_bits >= _OPENSSL_MIN_BITS else None
    source = csprng.resolve(rng)
    while True:
        p, q = next_primes(key_bits) if next_primes else (
            random_prime(key_bits // 2, source), random_prime(key_bits // 2, source))
        n = p * q
        if p != q and n.bit_length() == key_bits and math.gcd(n, (p - 1) * (q - 1)) == 1:
            public = paillier.PaillierPublicKey(n)
            return public, paillier.PaillierPrivateKey(public, p, q)


_OPENSSL_MIN_BITS = 1024


def _openssl_primes(key_bits: int) -> tuple[int, int]:
    """Two balanced primes from OpenSSL's RSA key generation (its CSPRNG and primality tests)."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=key_bits).private_numbers()
    return numbers.p, numbers.q


def random_unit(n: int, rng: RandomSource) -> int:
    """r uniform in Z_n^* (rejection sampling), the encryption randomness."""
    while True:
        r = csprng.randbelow(rng, n)
        if r > 0 and math.gcd(r, n) == 1:
            return r


def encrypt(public: paillier.PaillierPublicKey, plaintexts: list[int], rng: RandomSource) -> list[int]:
    """Raw Paillier encryptions (g^m r^n mod n^2) of plaintexts in [0, n), fresh r each."""
    return [public.raw_encrypt(m, r_value=random_unit(public.n, rng)) for m in plaintexts]


def obfuscator(public: paillier.PaillierPublicKey, rng: RandomSource) -> int:
    """r^n mod n^2 for a fresh r uniform in Z_n^*: the random factor of one encryption.

    Secret, and for one ciphertext only: whoever knows it strips that ciphertext to g^m, i.e.
    to the plaintext, and two ciphertexts sharing it reveal the difference of their plaintexts.
    """
    return util.powmod(random_unit(public.n, rng), public.n, public.nsquare)


def encrypt_with(public: paillier.PaillierPublicKey, plaintext: int, r_n: int) -> int:
    """g^m * r_n mod n^2 for m in [0, n) and r_n from :func:`obfuscator`: ``raw_encrypt(m,
    r_value=1)`` (phe's unobfuscated ciphertext, no exponentiation) times the precomputed r^n, the
    multiplication ``EncryptedNumber.obfuscate`` does. The same ciphertext as ``raw_encrypt(m, r)``."""
    return util.mulmod(public.raw_encrypt(plaintext, r_value=1), r_n, public.nsquare)


def add_into(acc: list[int], ciphertexts: list[int], nsquare: int) -> None:
    """acc[i] <- acc[i] * c[i] mod n^2: the homomorphic sum, in place."""
    for i, c in enumerate(ciphertexts):
        acc[i] = util.mulmod(acc[i], c, nsquare)


def key_id(n: int, key_bytes: int, session_id: bytes) -> bytes:
    """16 bytes naming the key n in this session: HKDF(n, PAILLIER_KEY, session, "key-id")."""
    return kdf.derive(n.to_bytes(key_bytes, "big"), labels.PAILLIER_KEY, session_id,
                      b"key-id", KEY_ID_BYTES)
