"""``/metrics``, ``/healthz`` and ``/readyz`` on one small HTTP server in a background thread.

``/healthz`` answers 200 while the process runs; ``/readyz`` answers 200 once
the worker says it is ready (its partitions assigned, its state recovered) and
503 before; ``/metrics`` serves the exporter's families.

>>> from driftline.observe.exporter import MetricsExporter
>>> import urllib.request
>>> with ObservabilityServer(MetricsExporter(), ready=lambda: False, port=0) as server:
...     with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz") as answer:
...         answer.read()
b'ok\\n'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from driftline.exceptions import DriftlineError
from driftline.observe.exporter import MetricsExporter

log = logging.getLogger("driftline.observe")

# The classic text format, which every Prometheus since 2.0 reads (newer clients
# announce format 1.0.0, which only recent servers know by name).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ObservabilityServer:
    """Serves an exporter until :meth:`close`; ``port=0`` takes a free port (see :attr:`port`)."""

    def __init__(self, exporter: MetricsExporter, ready: Callable[[], bool] = lambda: True,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.exporter = exporter
        self.ready = ready
        handler = type("Handler", (_Handler,), {"server_ref": self})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise DriftlineError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="driftline-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", host, self.port)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ObservabilityServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(exporter: MetricsExporter, port: int, host: str = "127.0.0.1",
          ready: Callable[[], bool] = lambda: True) -> ObservabilityServer | None:
    """A server on ``host:port``, or None when ``port`` is 0 (``DRIFTLINE_HTTP_PORT`` unset: off)."""
    if not port:
        return None
    return ObservabilityServer(exporter, ready=ready, host=host, port=port)


class _Handler(BaseHTTPRequestHandler):
    server_ref: ObservabilityServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = self.server_ref.exporter.render()
            except Exception as exc:  # a scrape must not take the worker down
                log.exception("rendering metrics failed")
                return self._send(500, f"metrics failed: {exc!r}\n".encode())
            return self._send(200, body, CONTENT_TYPE)
        if path == "/healthz":
            return self._send(200, b"ok\n")
        if path == "/readyz":
            try:
                ready = bool(self.server_ref.ready())
            except Exception:
                ready = False
            return self._send(200, b"ready\n") if ready else self._send(503, b"not ready\n")
        self._send(404, b"not found: /metrics, /healthz or /readyz\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: quiet
        log.debug("%s " + format, self.address_string(), *args)
