"""The HTTP contract between the example's server and its clients: paths, statuses, limits.

Request and response bodies are the library's wire bytes (``application/octet-stream``); only
the final result is JSON. A library error becomes a status and a fixed text, so nothing a
message revealed about the round (ids, sizes, the exception's own text) goes back on the wire.
"""

from __future__ import annotations

from protocols import (
    AbortError,
    AuthenticationError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    RemoteError,
    SecAggError,
    Stage,
    WrongSession,
)

OCTET_STREAM = "application/octet-stream"
ROUND = "/round"  # GET: the round's SecAggConfig, config.to_bytes()
RESULT = "/result"  # GET: JSON {"included": [...], "sum": [...], "modulus_bits": b}
MESSAGE = "/clients/{client_id}/stages/{stage}"  # GET: the message opening a stage; POST: reply

#: Stages a client can be sent a message for (the first one it answers unprompted).
FETCHABLE = tuple(s for s in Stage if s not in (Stage.ADVERTISE_KEYS, Stage.DONE, Stage.ABORTED))
#: Stages a client can post a reply in.
POSTABLE = tuple(s for s in Stage if s not in (Stage.DONE, Stage.ABORTED))

#: Library errors, most specific first: (class, HTTP status, the only text that is sent).
ERRORS: tuple[tuple[type[SecAggError], int, str], ...] = (
    (MalformedMessage, 400, "malformed message"),
    (WrongSession, 400, "message for another session"),
    (AuthenticationError, 400, "authentication failed"),
    (ProtocolViolation, 400, "protocol violation"),
    (RemoteError, 400, "bad message"),
    (OutOfOrder, 409, "out of order: this stage is not open"),
    (AbortError, 410, "round aborted"),
    (SecAggError, 500, "round error"),
)
#: Statuses the server sends for conditions of its own.
NOT_YET = 204  # GET: the stage (or the result) is not ready yet; ask again
NOT_IN_STAGE = (410, "not in this stage")  # the round went on without this client
TOO_LARGE = (413, "message too large")
WRONG_TYPE = (415, f"body must be {OCTET_STREAM}")
UNKNOWN_STAGE = (404, "no such stage")


def status_for(exc: SecAggError) -> tuple[int, str]:
    """The HTTP status and fixed text for a library error."""
    for cls, status, text in ERRORS:
        if isinstance(exc, cls):
            return status, text
    raise AssertionError("SecAggError is the last entry")  # pragma: no cover


def message_path(client_id: int, stage: Stage) -> str:
    """Where a client fetches the message that opens ``stage``, and posts its reply."""
    return MESSAGE.format(client_id=client_id, stage=stage.value)


def max_body(vector_length: int, num_clients: int) -> int:
    """Generous cap on a client's message: a masked input is at most 8 bytes a value, and the
    share bundles well under 1 KiB per neighbour; anything bigger is refused unread."""
    return 65_536 + 8 * vector_length + 1_024 * num_clients
