"""The aggregation server of the HTTP example: one round of SecAgg over FastAPI and uvicorn.

It makes the round's config (a fresh session id), serves it at ``GET /round``, hands each client
the message that opens its next stage (``GET /clients/{id}/stages/{stage}``, held open a few
seconds until the stage opens), takes the replies (``POST`` on the same path) and closes each
stage when every client it expects has answered or the stage's deadline has passed. The clock is
this process's: the sans-IO ``SecAggServer`` never sees time, ``close_stage()`` is the deadline.

Plain HTTP on 127.0.0.1, for demonstration only; see README.md for TLS.

    python examples/http/server.py --clients 5 --length 1000 --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import pki
import routes
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from warmup import warm_up

from protocols import OutOfOrder, SecAggConfig, SecAggError, SecAggServer, Stage


def log(text: str) -> None:
    """One line of the server's log (stdout; details of errors stay here, not on the wire)."""
    print(f"server: {text}", flush=True)


class NotInStage(Exception):
    """The stage opened, or the round ended, without this client."""


class Round:
    """One round between the HTTP handlers and the deadline task: the sans-IO server, the
    message that opened each stage per client, who has answered, and the clock."""

    def __init__(
        self,
        config: SecAggConfig,
        verify_keys: Mapping[int, bytes] | None = None,
        *,
        join_timeout: float,
        stage_timeout: float,
        poll_seconds: float = 5.0,
    ) -> None:
        self.config = config
        self.config_bytes = config.to_bytes()
        self.body_limit = routes.max_body(config.vector_length, config.num_clients)
        self.poll_seconds = poll_seconds
        self.error: SecAggError | None = None
        self._server = SecAggServer(config, verify_keys)
        self._timeouts = (join_timeout, stage_timeout)
        self._opened: dict[Stage, dict[int, bytes]] = {}  # stage -> its first message, by client
        self._expected = frozenset(config.client_ids)  # who should answer the open stage
        self._answered: set[int] = set()
        self._all_in = asyncio.Event()
        self._changed = asyncio.Event()  # set, and replaced, whenever a stage closes
        self._lock = asyncio.Lock()  # one caller at a time inside the sans-IO server

    @property
    def over(self) -> bool:
        """Whether the round is done or aborted."""
        return self._server.stage in (Stage.DONE, Stage.ABORTED)

    async def receive(self, client_id: int, stage: Stage, data: bytes) -> None:
        """Hand one reply to the sans-IO server. A reply for a stage that is not open (late,
        after its deadline, or early) is ``OutOfOrder``; anything else bad raises from
        ``SecAggServer.receive`` and changes nothing."""
        async with self._lock:
            if stage is not self._server.stage:
                raise OutOfOrder(f"{stage.value} is not the open stage")
            await asyncio.to_thread(self._server.receive, client_id, data)
            self._answered.add(client_id)
            if self._answered >= self._expected:
                self._all_in.set()

    async def message(self, client_id: int, stage: Stage) -> bytes | None:
        """The message that opened ``stage`` for this client; None if it has not opened within
        the poll time."""
        await self._wait_until(lambda: stage in self._opened or self.over)
        if self.error is not None:
            raise self.error
        opened = self._opened.get(stage)
        if opened is None and not self.over:
            return None
        if opened is None or client_id not in opened:
            raise NotInStage
        return opened[client_id]

    async def result(self) -> dict | None:
        """The sum over U3 and U3 itself; None if the round has not ended within the poll
        time."""
        await self._wait_until(lambda: self.over)
        if self.error is not None:
            raise self.error
        if not self.over:
            return None
        return {
            "included": sorted(self._server.included),
            "sum": self._server.result().tolist(),
            "modulus_bits": self.config.modulus_bits,
        }

    async def drive(self) -> None:
        """Close each stage when everyone expected has answered or its deadline passes: the
        first stage waits ``join_timeout`` (clients are starting), the others
        ``stage_timeout``."""
        timeout = self._timeouts[0]
        while not self.over:
            started = time.monotonic()
            try:
                await asyncio.wait_for(self._all_in.wait(), timeout)
            except asyncio.TimeoutError:
                pass  # the deadline: whoever has not answered is a dropout
            await self._close_stage(started)
            timeout = self._timeouts[1]

    async def _close_stage(self, started: float) -> None:
        async with self._lock:
            stage, expected, answered = self._server.stage, self._expected, len(self._answered)
            try:
                out = await asyncio.to_thread(self._server.close_stage)
            except SecAggError as exc:
                self.error = exc
                log(f"round aborted: {exc}")
            except Exception:  # a bug: the round cannot go on (the server is ABORTED)
                log(traceback.format_exc())
                self.error = SecAggError("server failure")
            else:
                self._opened[self._server.stage] = out
                self._expected = frozenset(out)
                self._answered = set()
                self._all_in.clear()
            log(f"{stage.value}: {answered} of {len(expected)} answered "
                f"({time.monotonic() - started:.2f} s)")
            if self._server.stage is Stage.DONE:
                total = self._server.result()
                log(f"round done: U3 = {sorted(self._server.included)}, "
                    f"sum[:5] = {total[:5].tolist()}")
        self._notify()

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_seconds
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


def make_app(rnd: Round) -> FastAPI:
    """The HTTP face of one round (see routes.py for the contract)."""
    app = FastAPI(title="secagg HTTP example", openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(SecAggError)
    async def library_error(request: Request, exc: SecAggError) -> Response:
        status, text = routes.status_for(exc)
        log(f"{request.method} {request.url.path}: {status} ({type(exc).__name__}: {exc})")
        return PlainTextResponse(text, status_code=status)

    @app.exception_handler(NotInStage)
    async def not_in_stage(request: Request, exc: NotInStage) -> Response:
        return _text(routes.NOT_IN_STAGE)

    @app.get(routes.ROUND)
    async def get_round() -> Response:
        return Response(rnd.config_bytes, media_type=routes.OCTET_STREAM)

    @app.get(routes.MESSAGE)
    async def get_message(client_id: int, stage: str) -> Response:
        wanted = _stage(stage, routes.FETCHABLE)
        if wanted is None:
            return _text(routes.UNKNOWN_STAGE)
        message = await rnd.message(client_id, wanted)
        if message is None:
            return Response(status_code=routes.NOT_YET)
        return Response(message, media_type=routes.OCTET_STREAM)

    @app.post(routes.MESSAGE)
    async def post_reply(client_id: int, stage: str, request: Request) -> Response:
        wanted = _stage(stage, routes.POSTABLE)
        if wanted is None:
            return _text(routes.UNKNOWN_STAGE)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != routes.OCTET_STREAM:
            return _text(routes.WRONG_TYPE)
        body = await _read_capped(request, rnd.body_limit)
        if body is None:
            return _text(routes.TOO_LARGE)
        await rnd.receive(client_id, wanted, body)
        return Response(status_code=204)

    @app.get(routes.RESULT)
    async def get_result() -> Response:
        result = await rnd.result()
        if result is None:
            return Response(status_code=routes.NOT_YET)
        return JSONResponse(result)

    return app


def _stage(name: str, allowed: tuple[Stage, ...]) -> Stage | None:
    return next((s for s in allowed if s.value == name), None)


def _text(status_text: tuple[int, str]) -> Response:
    status, text = status_text
    return PlainTextResponse(text, status_code=status)


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# --- the process ----------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the OS pick a free port, with no race for it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    rnd: Round, sock: socket.socket, *, linger: float, ssl_keyfile: str | None = None,
    ssl_certfile: str | None = None,
) -> None:
    """Serve the round until it ends, then ``linger`` seconds more for the result."""
    server = uvicorn.Server(uvicorn.Config(
        make_app(rnd), lifespan="off", log_level="warning", access_log=False,
        timeout_graceful_shutdown=2, ssl_keyfile=ssl_keyfile, ssl_certfile=ssl_certfile,
    ))

    async def run_round() -> None:
        try:
            await rnd.drive()
            await asyncio.sleep(linger)
        finally:
            server.should_exit = True

    task = asyncio.create_task(run_round())
    try:
        await server.serve(sockets=[sock])
    finally:
        task.cancel()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=5, help="n: clients 1..n (default 5)")
    p.add_argument("--length", type=int, default=1000, help="values per vector (default 1000)")
    p.add_argument("--malicious", action="store_true", help="malicious-server mode (needs --pki)")
    p.add_argument("--pki", type=Path, help="directory holding verify_keys.json (malicious mode)")
    p.add_argument("--dropout-rate", type=float, default=0.1,
                   help="dropouts the round is planned for, as a rate (default 0.1)")
    p.add_argument("--corrupt-rate", type=float, default=0.05,
                   help="colluding clients the round is planned for, as a rate (default 0.05)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0: a free port the OS picks")
    p.add_argument("--fd", type=int,
                   help="serve on this listening socket, inherited from the launcher, instead "
                        "of --host/--port (the launcher binds port 0, so it knows the port)")
    p.add_argument("--join-timeout", type=float, default=60.0,
                   help="seconds the first stage waits for clients (default 60)")
    p.add_argument("--stage-timeout", type=float, default=10.0,
                   help="deadline of every later stage, in seconds (default 10)")
    p.add_argument("--linger", type=float, default=30.0,
                   help="seconds to keep serving the result after the round (default 30)")
    p.add_argument("--ssl-keyfile", help="TLS private key (PEM), passed to uvicorn")
    p.add_argument("--ssl-certfile", help="TLS certificate chain (PEM), passed to uvicorn")
    return p


def _round(args: argparse.Namespace) -> Round:
    """The round's config (budgets from the rates, a fresh session id) and its state; a round
    that cannot keep its budgets, or a PKI directory that misses a client, is refused here."""
    config = SecAggConfig.for_secagg_plus(
        range(1, args.clients + 1), args.length, dropout=args.dropout_rate,
        corrupt=args.corrupt_rate, malicious=args.malicious,
    )
    verify_keys = pki.load_verify_keys(args.pki) if args.malicious else None
    return Round(config, verify_keys, join_timeout=args.join_timeout,
                 stage_timeout=args.stage_timeout)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.malicious != (args.pki is not None):
        parser.error("--malicious and --pki go together")
    if bool(args.ssl_keyfile) != bool(args.ssl_certfile):
        parser.error("--ssl-keyfile and --ssl-certfile go together")
    try:
        rnd = _round(args)
    except (ValueError, OSError) as exc:  # ConfigError is a ValueError
        parser.error(str(exc))
    tls = bool(args.ssl_certfile)
    sock = socket.socket(fileno=args.fd) if args.fd is not None else listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    if not tls and not _is_loopback(host):
        parser.error("plain HTTP only on a loopback address: pass --ssl-keyfile and "
                     "--ssl-certfile to serve beyond this machine (SECURITY.md, Channels)")
    config = rnd.config
    log(f"{'malicious' if config.malicious else 'semi-honest'} round, n={config.num_clients}, "
        f"{config.vector_length} values, t={config.t}, up to {config.max_dropouts} dropouts; "
        f"listening on {'https' if tls else 'http'}://{host}:{port}")
    started = time.monotonic()
    warm_up(config.modulus_bits)  # before the first deadline: see warmup.py
    log(f"kernels loaded ({time.monotonic() - started:.2f} s)")
    asyncio.run(serve(rnd, sock, linger=args.linger, ssl_keyfile=args.ssl_keyfile,
                      ssl_certfile=args.ssl_certfile))
    return 0 if rnd.error is None and rnd.over else 1


if __name__ == "__main__":
    sys.exit(main())
