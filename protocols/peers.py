"""``PeerBoxes``: one X25519 agreement per peer, shared by sealing to it and opening from it."""

from __future__ import annotations

from collections.abc import Sequence

import nacl.public

from secagg import keys
from secagg.masking import parallel_map

#: Fewest agreements (~35 us each) worth a thread of their own in :meth:`PeerBoxes.prefetch`.
_MIN_PER_THREAD = 8


class PeerBoxes:
    """A ``BoxKeyPair`` that keeps one Box key (one X25519 agreement) per peer.

    ``secagg.encryption`` calls ``.shared_key(peer_public)``; sealing to v in share_keys and
    opening v's bundle in masked_input then share one agreement instead of computing it twice.
    """

    __slots__ = ("_pair", "_keys", "public_bytes")

    def __init__(self, pair: keys.BoxKeyPair) -> None:
        self._pair = pair
        self._keys: dict[bytes, bytes] = {}
        self.public_bytes = pair.public_bytes

    def shared_key(self, peer_public: bytes) -> bytes:
        """The precomputed Box key with one peer (``BoxKeyPair.shared_key``), made once."""
        got = self._keys.get(peer_public)
        if got is None:
            got = self._keys[peer_public] = self._pair.shared_key(peer_public)
        return got

    def box(self, peer_public: bytes) -> nacl.public.Box:
        """The ``nacl`` Box with one peer, on the kept key."""
        return nacl.public.Box.decode(self.shared_key(peer_public))

    def prefetch(self, peer_publics: Sequence[bytes]) -> None:
        """Make the keys of many peers at once, on the mask threads (one X25519 each)."""
        todo = [pk for pk in dict.fromkeys(peer_publics) if pk not in self._keys]
        made = parallel_map(self._pair.shared_key, todo, min_per_thread=_MIN_PER_THREAD)
        self._keys.update(zip(todo, made, strict=True))

    def __repr__(self) -> str:
        return repr(self._pair)

    def __reduce__(self):  # noqa: D105 - holds a secret key
        raise TypeError("secret keys cannot be pickled")
