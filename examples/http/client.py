"""A client of the HTTP example: fetch the round's config, refuse it unless it validates and fits
this client's policy, then answer each stage with ``SecAggClient.respond`` until the round ends.

Plain HTTP on 127.0.0.1, for demonstration only; see README.md for TLS.

    python examples/http/client.py --server http://127.0.0.1:8000 --id 3 --input x3.npy
"""

from __future__ import annotations

import argparse
import ssl
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pki
import routes
from warmup import warm_up

from protocols import SecAggClient, SecAggConfig, SecAggError, Stage

EXIT_REFUSED, EXIT_SERVER_SAID, EXIT_TRANSPORT = 2, 3, 4


class Refused(Exception):
    """The round's config is valid but not one this client takes part in."""


class ServerSaid(Exception):
    """The server answered with an error status: this client cannot go on in the round."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status} {text}")
        self.status, self.text = status, text


def fetch_config(http: httpx.Client) -> SecAggConfig:
    """The round's config; ``MalformedMessage`` if it does not decode or validate."""
    return SecAggConfig.from_bytes(_checked(http.get(routes.ROUND)).content)


def check_round(config: SecAggConfig, client_id: int, vector: np.ndarray, *,
                malicious: bool) -> None:
    """This client's own policy on top of the config's validation: it is named in the round,
    its vector fits, and the mode is the one it expects (a server must not be able to
    downgrade a malicious-mode client to semi-honest)."""
    if client_id not in config.client_ids:
        raise Refused(f"client {client_id} is not in this round")
    if config.malicious != malicious:
        raise Refused(f"the round's malicious={config.malicious}, this client's {malicious}")
    if vector.shape != (config.vector_length,):
        raise Refused(f"the round sums {config.vector_length} values, this input has "
                      f"{vector.shape}")


def take_part(http: httpx.Client, client: SecAggClient, vector: np.ndarray, *,
              drop_before: Stage | None = None, deadline: float) -> dict | None:
    """Answer every stage, then fetch the result; None if this client dropped out on purpose
    (it just stops answering, which is all the server ever sees of a dropout)."""
    message = None
    while client.stage is not Stage.DONE:
        stage = client.stage
        if stage is drop_before:
            return None
        path = routes.message_path(client.client_id, stage)
        if stage is not Stage.ADVERTISE_KEYS:  # the first reply needs no message
            message = _wait_for(http, path, deadline).content
        reply = client.respond(message, vector if client.wants_input else None)
        _checked(http.post(path, content=reply,
                           headers={"content-type": routes.OCTET_STREAM}))
    return _wait_for(http, routes.RESULT, deadline).json()


def _wait_for(http: httpx.Client, path: str, deadline: float) -> httpx.Response:
    """GET until the server has it; it holds each request open until ready or a few seconds."""
    while True:
        response = _checked(http.get(path))
        if response.status_code != routes.NOT_YET:
            return response
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing at {path} before this client's deadline")


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise ServerSaid(response.status_code, response.text[:200])
    return response


def _connect(http: httpx.Client, deadline: float) -> SecAggConfig:
    """The config, retrying while the server is not listening yet."""
    while True:
        try:
            return fetch_config(http)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run(args: argparse.Namespace) -> tuple[int, str]:
    """One client's round: the exit code and the line to print."""
    me = args.id
    signing_key, verify_keys = None, None
    try:
        vector = np.load(args.input, allow_pickle=False)
        if args.pki is not None:  # malicious mode: keys from the PKI, never from the server
            signing_key = pki.load_signing_key(args.pki, me)
            verify_keys = pki.load_verify_keys(args.pki)
    except (OSError, ValueError) as exc:
        return EXIT_REFUSED, f"cannot read this client's files: {exc}"
    deadline = time.monotonic() + args.timeout
    verify: ssl.SSLContext | bool = True
    if args.ca_cert:
        verify = ssl.create_default_context(cafile=args.ca_cert)
    with httpx.Client(base_url=args.server, timeout=30.0, verify=verify) as http:
        try:
            config = _connect(http, deadline)
            check_round(config, me, vector, malicious=args.pki is not None)
            warm_up(config.modulus_bits)  # before the first stage: see warmup.py
            client = SecAggClient(config, me, signing_key, verify_keys)
            result = take_part(http, client, vector, drop_before=args.drop_before,
                               deadline=deadline)
        except (SecAggError, Refused) as exc:  # this client refuses to go on
            return EXIT_REFUSED, f"refused: {type(exc).__name__}: {exc}"
        except ServerSaid as exc:
            return EXIT_SERVER_SAID, f"the server said {exc}"
        except (httpx.HTTPError, TimeoutError) as exc:
            return EXIT_TRANSPORT, f"transport: {type(exc).__name__}: {exc}"
    if result is None:
        return 0, f"dropped out before {args.drop_before.value}"
    return 0, f"done: U3 = {result['included']}, sum[:5] = {result['sum'][:5]}"


def _parser() -> argparse.ArgumentParser:
    stages = [s.value for s in routes.POSTABLE]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--id", type=int, required=True, help="this client's id in the round")
    p.add_argument("--input", type=Path, required=True,
                   help=".npy file with the client's vector (integers in [0, 2^b))")
    p.add_argument("--pki", type=Path,
                   help="malicious mode: directory with this client's key and verify_keys.json")
    p.add_argument("--drop-before", type=Stage, choices=list(routes.POSTABLE),
                   metavar="{" + ",".join(stages) + "}",
                   help="exit without answering this stage (a dropout)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="give up after this many seconds (default 120)")
    p.add_argument("--ca-cert", help="CA bundle (PEM) to verify the server's TLS certificate")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code, line = run(args)
    print(f"client {args.id}: {line}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
