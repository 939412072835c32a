"""``bayesnet serve``: the local web page (needs the ``web`` extra: starlette and uvicorn)."""
from __future__ import annotations

import argparse
import ipaddress
import importlib.util
import socket
import sys
from typing import TYPE_CHECKING

from bayesnet.errors import BayesnetError

if TYPE_CHECKING:  # pragma: no cover
    from bayesnet.model import Model

__all__ = ["add_serve_arguments", "check_serve", "cmd_serve", "WEB_PACKAGES"]

#: the modules ``bayesnet serve`` imports, with the distribution that provides each
WEB_PACKAGES = {"starlette": "starlette", "uvicorn": "uvicorn", "anyio": "anyio"}

INSTALL_HINT = 'python -m pip install "bayesnet[web]"'


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``bayesnet serve``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=port_number, default=8000, help="port to listen on (default 8000; 0: any free port)")
    parser.add_argument("--priors", metavar="DIR", default=argparse.SUPPRESS,
                        help="knowledge-base folder (default: the shipped one); the same as bayesnet --priors DIR serve")


def missing_packages() -> list[str]:
    """The web extra's modules that are not installed."""
    return [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]


def check_serve(args: argparse.Namespace) -> None:
    """Before the model loads: the web extra must be installed, and the address free to listen on."""
    missing = missing_packages()
    if missing:
        raise BayesnetError(f"bayesnet serve needs the web extra, and {', '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not installed; install it with: {INSTALL_HINT}")
    args.socket = listen(args.host, args.port)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a clear error naming the address."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise BayesnetError(f"cannot listen on host {host!r}: {error.strerror}; give an address such as 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise BayesnetError(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                            "choose another --port (or --port 0 for any free one)") from None
    sock.set_inheritable(True)
    return sock


def cmd_serve(model: Model, args: argparse.Namespace) -> int:
    import uvicorn

    from bayesnet.web.app import create_app, loopback_hosts, warm_up

    sock: socket.socket = args.socket
    print("bayesnet: preparing the inference kernels (the first start after installing compiles them, "
          "about 15 s)", file=sys.stderr, flush=True)
    warm_up(model)
    host, port = sock.getsockname()[:2]
    # on loopback, only requests addressed to this machine: a site that points its name here is refused
    app = create_app(model, allowed_hosts=loopback_hosts(port) if ipaddress.ip_address(host).is_loopback else None)
    shown = f"[{host}]" if ":" in host else host
    print(f"bayesnet: serving {model.knowledge_base} at http://{shown}:{port}/ (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
