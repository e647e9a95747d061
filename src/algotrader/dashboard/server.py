"""Serving the dashboard with uvicorn: a local bind by default, a token for anything else."""

from __future__ import annotations

import ipaddress
import socket

from algotrader.config import Settings
from algotrader.errors import InvalidInputError

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_local(host: str) -> bool:
    """True for loopback names and addresses."""
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-local bind without a token (the dashboard shows runs and orders)."""
    if not is_local(host) and not token:
        raise InvalidInputError(
            f"--host {host[:80]} exposes the dashboard beyond this machine",
            "pass --token SECRET (or set ALGOTRADER_DASHBOARD_TOKEN), or keep --host 127.0.0.1",
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); one clear line when that is impossible."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}", "use 1..65535 (0: any free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot resolve --host {host[:80]} ({exc.strerror})",
                                "use an address such as 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port} ({exc.strerror})",
                                "pick another --port") from None
    sock.listen(128)
    return sock


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050,
          token: str | None = None, *, on_ready: object = None) -> None:
    """Serve the dashboard until interrupted. ``on_ready(url)`` is called once listening."""
    import uvicorn

    from algotrader.dashboard.app import create_app

    check_bind(host, token)
    allowed = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None
    app = create_app(settings, token=token, allowed_hosts=allowed)
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if callable(on_ready):
        on_ready(f"http://{shown}:{actual}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
