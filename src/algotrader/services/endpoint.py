"""``/metrics`` and ``/healthz`` of a service, on one port, served from a background thread.

``/metrics`` is the Prometheus exposition of the platform's metrics
(:data:`algotrader.observability.REGISTRY`), the process's CPU and memory, and the platform
state read from the database at scrape time (:mod:`.collectors`). ``/healthz`` answers 200 with
a small JSON document when the service works, 503 (same document) when it does not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.registry import Collector

from algotrader.observability import REGISTRY

Health = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None  # scrapes every few seconds would drown the one line per job


class _Forward(Collector):
    """The platform registry's metrics, inside the service's registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def service_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """The platform's metrics, the process's, and ``extra`` collectors, in one registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward())
    ProcessCollector(registry=registry)
    for collector in extra:
        registry.register(collector)
    return registry


class ServiceEndpoint:
    """The HTTP endpoint of one service."""

    def __init__(self, host: str, port: int, health: Health, registry: CollectorRegistry) -> None:
        self._metrics = make_wsgi_app(registry)
        self._health = health
        self._server = make_server(
            host, port, self._app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="endpoint", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ServiceEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            ok, document = self._health()
            body = json.dumps({"status": "ok" if ok else "unhealthy", **document}, default=str)
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body.encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /healthz\n"]
