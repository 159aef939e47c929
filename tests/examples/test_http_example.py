"""examples/http: a server and clients as real processes over HTTP on 127.0.0.1, and the HTTP
contract in process (statuses, fixed error texts, a client refusing a config)."""

from __future__ import annotations

import asyncio
import importlib
import stat
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from protocols import (
    AbortError,
    AuthenticationError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    SecAggClient,
    SecAggConfig,
    SecAggError,
    Stage,
    WrongSession,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http"
MODULES = ("routes", "pki", "warmup", "server", "client", "launch")


@pytest.fixture(scope="module")
def ex():
    """The example's modules; they import one another by name, as scripts in one directory."""
    saved = list(sys.path)
    sys.path.insert(0, str(EXAMPLE))
    try:
        yield SimpleNamespace(**{m: importlib.import_module(m) for m in MODULES})
    finally:
        sys.path[:] = saved
        for m in MODULES:
            sys.modules.pop(m, None)


def _inputs(workdir: Path, ids) -> dict[int, np.ndarray]:
    return {u: np.load(workdir / "inputs" / f"client-{u}.npy", allow_pickle=False) for u in ids}


def _sum_mod(inputs: dict[int, np.ndarray], ids, bits: int) -> list[int]:
    total = sum(inputs[u].astype(object) for u in ids)
    return [int(v) % (1 << bits) for v in total]


# --- end to end: real processes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def rounds(ex, tmp_path_factory):
    """Both end-to-end rounds, run at once: each is mostly process start-up, and the first
    waits out one deadline. Each test gets its own round's outcome (or its error)."""
    dirs = {name: tmp_path_factory.mktemp(name) for name in ("semi-honest", "malicious")}
    common = {"length": 1000, "stage_timeout": 2.0, "timeout": 90.0, "log": lambda _: None}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            "semi-honest": pool.submit(ex.launch.run_round, dirs["semi-honest"], clients=5,
                                       drops={5: "masked_input"}, **common),
            "malicious": pool.submit(ex.launch.run_round, dirs["malicious"], clients=6,
                                     malicious=True, **common),
        }
    return {name: (dirs[name], futures[name]) for name in dirs}


def test_semi_honest_round_with_a_dropout_before_masked_input(rounds):
    workdir, future = rounds["semi-honest"]
    outcome = future.result()
    assert outcome.result["included"] == [1, 2, 3, 4]
    assert outcome.result["sum"] == _sum_mod(_inputs(workdir, range(1, 6)), [1, 2, 3, 4], 32)
    assert outcome.exit_codes == dict.fromkeys(range(1, 6), 0)
    assert "dropped out before masked_input" in (workdir / "client-5.log").read_text()
    for u in (1, 2, 3, 4):
        assert "done: U3 = [1, 2, 3, 4]" in (workdir / f"client-{u}.log").read_text()
    server_log = (workdir / "server.log").read_text()
    assert "masked_input: 4 of 5 answered" in server_log
    assert "round done: U3 = [1, 2, 3, 4]" in server_log


def test_malicious_round_completes(rounds):
    workdir, future = rounds["malicious"]
    outcome = future.result()
    assert outcome.result["included"] == [1, 2, 3, 4, 5, 6]
    assert outcome.result["sum"] == _sum_mod(_inputs(workdir, range(1, 7)), range(1, 7), 32)
    assert outcome.exit_codes == dict.fromkeys(range(1, 7), 0)
    assert "consistency_check: 6 of 6 answered" in (workdir / "server.log").read_text()
    for u in range(1, 7):  # the PKI step: one secret key file per client, private to its owner
        assert stat.S_IMODE((workdir / "pki" / f"client-{u}.key").stat().st_mode) == 0o600


def test_launcher_refuses_a_bad_drop_spec(ex, capsys):
    with pytest.raises(SystemExit) as exc:
        ex.launch.main(["--drop", "5:lunch"])
    assert exc.value.code == 2
    assert "expected ID:STAGE" in capsys.readouterr().err


# --- the HTTP contract, in process --------------------------------------------------------------


def _against_a_round(ex, scenario) -> None:
    """Run ``scenario(app)`` against a fresh round's app in process, in one event loop."""
    config = SecAggConfig(client_ids=(1, 2, 3, 4, 5), vector_length=8)
    rnd = ex.server.Round(config, join_timeout=5, stage_timeout=5, poll_seconds=0.05)

    async def run() -> None:
        transport = httpx.ASGITransport(app=ex.server.make_app(rnd))
        async with httpx.AsyncClient(transport=transport, base_url="http://example") as http:
            await scenario(SimpleNamespace(http=http, config=config, rnd=rnd))

    asyncio.run(run())


async def _post(app, ex, client_id: int, stage: Stage, body: bytes, media=None):
    media = media or ex.routes.OCTET_STREAM
    return await app.http.post(ex.routes.message_path(client_id, stage), content=body,
                               headers={"content-type": media})


def test_round_serves_its_config_as_wire_bytes(ex):
    async def scenario(app):
        got = await app.http.get(ex.routes.ROUND)
        assert got.headers["content-type"] == ex.routes.OCTET_STREAM
        assert SecAggConfig.from_bytes(got.content) == app.config
        assert SecAggConfig.from_bytes(got.content).session_id == app.config.session_id

    _against_a_round(ex, scenario)


def test_library_errors_become_statuses_with_fixed_texts(ex):
    async def scenario(app):
        advert = SecAggClient(app.config, 1).respond()
        assert (await _post(app, ex, 1, Stage.ADVERTISE_KEYS, advert)).status_code == 204
        replay = await _post(app, ex, 1, Stage.ADVERTISE_KEYS, advert)  # client 1 again
        assert (replay.status_code, replay.text) == (400, "protocol violation")
        garbage = await _post(app, ex, 2, Stage.ADVERTISE_KEYS, b"SAGG" + bytes(40))
        assert (garbage.status_code, garbage.text) == (400, "malformed message")
        early = await _post(app, ex, 2, Stage.SHARE_KEYS, b"anything")  # not the open stage
        assert (early.status_code, early.text) == (409, "out of order: this stage is not open")
        other = SecAggClient(app.config, 2).respond()
        stranger = await _post(app, ex, 9, Stage.ADVERTISE_KEYS, other)  # not in the round
        assert (stranger.status_code, stranger.text) == (400, "protocol violation")

    _against_a_round(ex, scenario)


def test_transport_refusals(ex):
    async def scenario(app):
        advert = SecAggClient(app.config, 3).respond()
        wrong_type = await _post(app, ex, 3, Stage.ADVERTISE_KEYS, advert, media="text/plain")
        assert wrong_type.status_code == 415
        huge = b"x" * (app.rnd.body_limit + 1)
        assert (await _post(app, ex, 3, Stage.ADVERTISE_KEYS, huge)).status_code == 413
        assert (await _post(app, ex, 3, Stage.DONE, advert)).status_code == 404
        first = await app.http.get("/clients/3/stages/advertise_keys")  # answered unprompted
        assert first.status_code == 404
        waiting = await app.http.get(ex.routes.message_path(3, Stage.SHARE_KEYS))
        assert waiting.status_code == 204  # the stage has not opened: ask again
        assert (await app.http.get(ex.routes.RESULT)).status_code == 204

    _against_a_round(ex, scenario)


DETAIL = "client 3 sent share 0x5ec2e7"


@pytest.mark.parametrize("error, status", [
    (MalformedMessage(DETAIL), 400), (WrongSession(DETAIL), 400),
    (AuthenticationError(DETAIL), 400), (ProtocolViolation(DETAIL), 400),
    (OutOfOrder(DETAIL), 409), (AbortError("masked_input", 4, 3, DETAIL), 410),
    (SecAggError(DETAIL), 500),
])
def test_every_library_error_has_a_status_and_a_text_without_its_message(ex, error, status):
    got, text = ex.routes.status_for(error)
    assert got == status
    assert "3" not in text and "share" not in text


# --- the client's side: it refuses a config that does not validate or does not fit ------------


def _serving(config_bytes: bytes) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=config_bytes)
    return httpx.Client(base_url="http://server", transport=httpx.MockTransport(handler))


def test_client_refuses_a_config_that_does_not_validate(ex):
    good = SecAggConfig(client_ids=(1, 2, 3, 4, 5), vector_length=8).to_bytes()
    with _serving(good) as http:
        assert ex.client.fetch_config(http).vector_length == 8
    t_at = 8 + 32 + 10  # magic, version, type, session length | session | flags, b, m | t
    unsafe = good[:t_at] + struct.pack(">I", 1) + good[t_at + 4:]  # threshold 1: no secret
    with _serving(unsafe) as http, pytest.raises(MalformedMessage, match="threshold"):
        ex.client.fetch_config(http)
    for bad in (good[:-3], b"GET / HTTP/1.1"):
        with _serving(bad) as http, pytest.raises(MalformedMessage):
            ex.client.fetch_config(http)


def test_client_refuses_a_downgrade_and_a_round_without_it(ex):
    vector = np.zeros(8, dtype=np.uint32)
    honest = SecAggConfig(client_ids=(1, 2, 3, 4, 5), vector_length=8)
    ex.client.check_round(honest, 3, vector, malicious=False)
    with pytest.raises(ex.client.Refused, match="malicious"):
        ex.client.check_round(honest, 3, vector, malicious=True)
    with pytest.raises(ex.client.Refused, match="not in this round"):
        ex.client.check_round(honest, 7, vector, malicious=False)
    with pytest.raises(ex.client.Refused, match="sums 8 values"):
        ex.client.check_round(honest, 3, np.zeros(9, dtype=np.uint32), malicious=False)
