"""``PeerBoxes``: one X25519 agreement per peer, shared by sealing to it and opening from it."""

from __future__ import annotations

from secagg import keys
from secagg.masking import default_workers


class PeerBoxes:
    """A ``BoxKeyPair`` that keeps one ``nacl`` Box (one X25519 agreement) per peer.

    ``secagg.encryption`` only calls ``.box(peer_public)``; sealing to v in share_keys and opening
    v's bundle in masked_input then share one agreement instead of computing it twice.
    """

    __slots__ = ("_pair", "_boxes", "public_bytes")

    def __init__(self, pair: keys.BoxKeyPair) -> None:
        self._pair = pair
        self._boxes: dict[bytes, object] = {}
        self.public_bytes = pair.public_bytes

    def box(self, peer_public: bytes):  # noqa: ANN201 - nacl.public.Box
        got = self._boxes.get(peer_public)
        if got is None:
            got = self._boxes[peer_public] = self._pair.box(peer_public)
        return got

    def prefetch(self, peer_publics: list[bytes]) -> None:
        """Make the Boxes of many peers at once, on the mask threads (one X25519 each)."""
        todo = [pk for pk in peer_publics if pk not in self._boxes]
        self._boxes.update(zip(todo, self._pair.boxes(todo, workers=default_workers()), strict=True))

    def __repr__(self) -> str:
        return repr(self._pair)

    def __reduce__(self):  # noqa: D105 - holds a secret key
        raise TypeError("secret keys cannot be pickled")
