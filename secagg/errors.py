"""One exception hierarchy for the whole library: ``except SecAggError`` catches all of ours.

Errors say whose fault it was: ``RemoteError`` subclasses mean a peer sent something bad,
``LocalError`` subclasses mean the caller misused the API or the round cannot go on.
"""

from __future__ import annotations


class SecAggError(Exception):
    """Root of every error this library raises on purpose."""


class RemoteError(SecAggError):
    """A peer (client or server) sent something that breaks the protocol."""


class LocalError(SecAggError):
    """The local caller used the API out of order or with bad arguments."""


class MalformedMessage(RemoteError):
    """Bytes that do not decode: bad magic, version, type, length, id or range."""


class WrongSession(RemoteError):
    """A message bound to another session id."""


class AuthenticationError(RemoteError):
    """A ciphertext, tag or signature that does not verify. Every such failure looks the same."""


class ProtocolViolation(RemoteError):
    """A well-formed message whose content contradicts the protocol (replay, bad id, both shares)."""


class ConfigError(LocalError, ValueError):
    """Parameters that are invalid, or would void a guarantee; the message names the parameter.

    A ``ValueError`` too, so code that catches that keeps working."""


class OutOfOrder(LocalError):
    """A call or message that the current stage does not allow."""


class AbortError(SecAggError):
    """The round cannot complete: too few parties answered a stage.

    Carries the stage, how many were needed and how many came, so callers can log or retry.
    """

    def __init__(self, stage: str, needed: int, received: int, detail: str = "") -> None:
        self.stage = stage
        self.needed = needed
        self.received = received
        msg = f"round aborted at stage {stage!r}: needed at least {needed}, received {received}"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class ShamirError(SecAggError):
    """Secret sharing misuse: too few shares, duplicate or out-of-field points."""


class EncodingError(SecAggError, ValueError):
    """Float/integer encoding parameters that would overflow or lose the sum."""
