"""``kubectl incident dashboard``: the responders' dashboard in the browser (docs/dashboard.md).

A local web server, like ``kubectl argo rollouts dashboard``: it reads and acts with the
caller's own kubeconfig, so the API server and its admission policies see the person
behind every click. It listens on loopback only (security.py says why and how the rest
is defended).
"""

import argparse
import asyncio
import contextlib
import webbrowser
from typing import Any

from incident_operator.cli.cluster import Cluster
from incident_operator.cli.dashboard.security import NotLoopback, loopback_address


def _address(text: str) -> str:
    try:
        return loopback_address(text)
    except NotLoopback as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 picks a free one)")
    return int(text)


def cmd_dashboard(cluster: Cluster, args: argparse.Namespace) -> int:
    # The web server's modules (aiohttp, Jinja2) load only for this command: the plugin's
    # other commands start faster without them.
    from incident_operator.cli.dashboard.server import listen, serve, url

    sock = listen(args.address, args.port)
    address = url(sock)
    print(f"Dashboard: {address}", flush=True)
    print("Acting with your kubeconfig's identity. Ctrl-C stops it.", flush=True)
    if not args.no_open:
        webbrowser.open(address)
    # Ctrl-C is how it is meant to stop: no error line for it.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cluster, args.all_namespaces, sock))
    return 0


def add_dashboard(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = (
        "open the responders' dashboard in the browser: incidents, SLA clocks, live "
        "updates, and the plugin's actions as yourself"
    )
    sub: argparse.ArgumentParser = commands.add_parser(
        "dashboard", help=help_, description=help_ + " (loopback only; Ctrl-C stops it)"
    )
    sub.set_defaults(handler=cmd_dashboard)
    sub.add_argument("-A", "--all-namespaces", action="store_true")
    sub.add_argument(
        "--address",
        type=_address,
        default="127.0.0.1",
        help="the loopback address to listen on (default 127.0.0.1)",
    )
    sub.add_argument("--port", type=_port, default=0, help="the port (default 0: a free one)")
    sub.add_argument(
        "--no-open", action="store_true", help="print the address; do not open a browser"
    )
    return sub
