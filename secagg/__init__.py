"""secagg: the cryptographic core of secure aggregation (no protocol state lives here).

The names below are the safe layer. The raw layer — field arithmetic (:mod:`secagg.field`), the
raw PRG (:mod:`secagg.prg`), numba kernels (:mod:`secagg.kernels`) and raw HKDF
(:func:`secagg.kdf.hkdf_sha256`) — is importable by module for those who need it.
"""

__version__ = "0.2.0"

from .csprng import AesCtrRandom, OsRandom, RandomSource
from .encoding import FixedPointEncoder, embed_signed, stochastic_round, unembed_signed
from .encryption import open_bundle, seal_bundle
from .errors import (
    AbortError,
    AuthenticationError,
    ConfigError,
    EncodingError,
    LocalError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    RemoteError,
    SecAggError,
    ShamirError,
    WrongSession,
)
from .keys import BoxKeyPair, MaskKeyPair, SigningKeyPair, pairwise_seed, verify_signature
from .labels import VERSION
from .masking import accumulate_masks, add_mod, sub_mod
from .prg import dtype_for_bits, expand_mask
from .shamir import reconstruct_many, reconstruct_secrets, split_secrets

__all__ = [
    "VERSION",
    "__version__",
    "AbortError",
    "AesCtrRandom",
    "AuthenticationError",
    "ConfigError",
    "BoxKeyPair",
    "EncodingError",
    "FixedPointEncoder",
    "LocalError",
    "MalformedMessage",
    "MaskKeyPair",
    "OsRandom",
    "OutOfOrder",
    "ProtocolViolation",
    "RandomSource",
    "RemoteError",
    "SecAggError",
    "ShamirError",
    "SigningKeyPair",
    "WrongSession",
    "accumulate_masks",
    "add_mod",
    "dtype_for_bits",
    "embed_signed",
    "expand_mask",
    "open_bundle",
    "pairwise_seed",
    "reconstruct_many",
    "reconstruct_secrets",
    "seal_bundle",
    "split_secrets",
    "stochastic_round",
    "sub_mod",
    "unembed_signed",
    "verify_signature",
]
