"""Packed Paillier aggregation: an additively homomorphic alternative to masking.

Roles and trust model
---------------------
- **Decryptor** (:class:`PaillierDecryptor`): generates the key pair and publishes the public key
  (session-bound wire bytes); it never receives an individual ciphertext, only the server's
  aggregate, and decrypts **one** aggregate per session, of at least ``min_clients`` inputs
  (decrypting two sums of different client sets would reveal their difference). It can be a
  separate organisation, a trusted enclave, or one silo of a cross-silo federation; a committee
  holding a threshold key would remove the single holder, but ``phe`` has no threshold decryption
  and this module does not implement one.
- **Server** (:class:`PaillierServer`): checks and multiplies ciphertexts; it holds no secret and
  learns nothing about any input (IND-CPA under the decisional composite residuosity assumption).
- **Clients** (:class:`PaillierClient`): encode, pack and encrypt one vector under the public key.
  The random factors of their ciphertexts (r^n mod n^2, r uniform in Z_n^* from the CSPRNG) may
  be drawn ahead of the input (:meth:`PaillierClient.precompute`); they are secret (one strips its
  ciphertext to the plaintext), stay inside the client object (which neither prints nor pickles),
  and each serves one ciphertext and is discarded, so precomputing changes no assumption.

What it protects against: a curious server (sees only ciphertexts), a curious decryptor (sees only
the sum), curious clients (see nothing of each other). What it does not: **a server colluding with
the decryptor learns every input** (the decryptor can decrypt any single ciphertext); a malicious
server can present one client's ciphertext as the "sum" and the decryptor cannot tell, because
ciphertexts are not authenticated to a client: anyone with the public key can make one. The server
takes the sender from the caller's authenticated transport (``receive(client_id, ...)`` must match
the id inside the message) and refuses a second message from the same client; authenticity of
who sent what is the transport's job (TLS with client certificates, or signatures around these
bytes). Nothing checks that a client's input is in range (no zero-knowledge proofs): a malicious
client can spoil the sum, as with masking (SECURITY.md). A key pair may be reused over sessions
(:class:`PaillierKeyPair`); every message still names its session and the key id is bound to it.

Dropouts and comparison with masking
------------------------------------
Dropouts are free: one message per client, and a client that never sends is simply not in the
sum; there is no threshold, no recovery stage and no abort short of ``min_clients``. SecAgg/SecAgg+
instead need t survivors of every stage, a second (unmasking) round with Shamir shares, and abort
with fewer; but their inputs cost one AES keystream per neighbour, travel at about 1x their size,
and need no trusted decryptor. Here every ``slots`` values cost one 2*key_bits-bit ciphertext and a
modular exponentiation with a key_bits exponent: roughly 2.5x the upload of 32-bit values at n=100
and orders of magnitude more CPU. The exponentiations do not depend on the input, so a client can
do them before it has one (offline) and encrypt in milliseconds once it does (online). It is
meant for comparison and for small cross-silo federations.

Packing (see :mod:`protocols.paillier.packing`): offset-binary slots of v + ceil(log2 n) bits,
floor((key_bits-1)/w) per plaintext: 78 slots of 32-bit values per 3072-bit key at n = 100.

Floats: encode with :class:`secagg.encoding.FixedPointEncoder` (bits b), turn the residues into
signed integers with ``unembed_signed(y, b)``, aggregate with ``value_bits=b``; the sum comes back
exact over the integers, so ``decode_sum(embed_signed(total, b), count)`` recovers the float sum
(the encoder's headroom check guarantees the sum fits b bits).
"""

from .protocol import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierResult,
    PaillierServer,
    SlotLayout,
    aggregate_paillier,
)

__all__ = [
    "PaillierClient",
    "PaillierConfig",
    "PaillierDecryptor",
    "PaillierKeyPair",
    "PaillierResult",
    "PaillierServer",
    "SlotLayout",
    "aggregate_paillier",
]
