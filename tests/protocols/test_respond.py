"""``SecAggClient.respond``: one call per server message, in every flow, with the same errors."""

from __future__ import annotations

import numpy as np
import pytest

from protocols import OutOfOrder, SecAggClient, SecAggConfig, SecAggServer, Stage
from secagg.keys import SigningKeyPair

from .helpers import SESSION, expected_sum, random_inputs


def _round(config: SecAggConfig, drop: int | None = None) -> SecAggServer:
    signing = {u: SigningKeyPair.generate() for u in config.client_ids}
    verify = {u: k.verify_key_bytes for u, k in signing.items()} if config.malicious else None
    server = SecAggServer(config, verify)
    clients = {u: SecAggClient(config, u, signing[u], verify) for u in config.client_ids}
    inputs = random_inputs(config, 3)
    to_clients: dict[int, bytes | None] = dict.fromkeys(config.client_ids)
    while server.stage not in (Stage.DONE, Stage.ABORTED):
        for u, msg in to_clients.items():
            if u == drop and clients[u].wants_input:
                continue
            server.receive(u, clients[u].respond(msg, inputs[u]))
        to_clients = server.close_stage()
    np.testing.assert_array_equal(server.result(), expected_sum(config, inputs, server.included))
    return server


@pytest.mark.parametrize("malicious", [False, True])
@pytest.mark.parametrize("n", [6, 120])
def test_one_loop_runs_every_flow(malicious: bool, n: int) -> None:
    config = SecAggConfig.for_secagg_plus(range(1, n + 1), 5, malicious=malicious,
                                          session_id=SESSION)
    server = _round(config, drop=2)
    assert server.included == frozenset(config.client_ids) - {2}


def test_misuse_is_out_of_order_and_changes_nothing() -> None:
    config = SecAggConfig(client_ids=range(1, 5), vector_length=3, session_id=SESSION)
    server = SecAggServer(config)
    client = SecAggClient(config, 1)
    server.receive(1, client.respond())
    with pytest.raises(OutOfOrder, match="needs the server's message"):
        client.respond(None)
    assert client.stage is Stage.SHARE_KEYS and not client.wants_input
    others = {u: SecAggClient(config, u) for u in (2, 3, 4)}
    for u, c in others.items():
        server.receive(u, c.respond())
    msgs = server.close_stage()
    client.respond(msgs[1])
    with pytest.raises(OutOfOrder, match="input vector"):
        client.respond(b"anything")
    assert client.wants_input


def test_the_server_says_whom_it_still_waits_for() -> None:
    config = SecAggConfig(client_ids=range(1, 5), vector_length=3, session_id=SESSION)
    server = SecAggServer(config)
    clients = {u: SecAggClient(config, u) for u in config.client_ids}
    assert server.expected == {1, 2, 3, 4}
    server.receive(2, clients[2].respond())
    assert server.expected == {1, 3, 4}
    for u in (1, 3):
        server.receive(u, clients[u].respond())
    msgs = server.close_stage()  # 4 never advertised: it is not expected any more
    assert server.expected == {1, 2, 3} == set(msgs)


def test_a_signing_key_round_trips_through_its_seed() -> None:
    key = SigningKeyPair.generate()
    again = SigningKeyPair.from_private_bytes(key.private_bytes())
    assert again.verify_key_bytes == key.verify_key_bytes and "private" not in repr(again)
    with pytest.raises(ValueError):
        SigningKeyPair.from_private_bytes(b"short")
