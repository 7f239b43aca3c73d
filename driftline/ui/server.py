"""``driftline ui``: one HTML page and the JSON it reads, over the topics and the registry, read only.

Endpoints (GET only):

============================  ======================================================
``/``                         the dashboard page (self-contained: inline JS and SVG)
``/api/status``               the topic reader: caught up, records read, errors
``/api/models``               every model: serving version, newest figures, lineage
``/api/series?model=M``       M's accuracy, label coverage and drift series
``/api/alerts[?model=M]``     the alerts kept, oldest first
``/healthz``                  200 while the process runs (no token needed)
============================  ======================================================

>>> from driftline.ui.series import Series
>>> import json, urllib.request
>>> series = Series()
>>> series.add_metrics({"model_id": "fraud", "model_version": "1", "event_ts": 5, "accuracy": 0.9})
>>> with DashboardServer(series, registry=None, token="t" * 16, port=0) as server:
...     url = f"http://127.0.0.1:{server.port}/api/models"
...     try:
...         urllib.request.urlopen(url)
...     except urllib.error.HTTPError as exc:
...         print(exc.code)
...     ask = urllib.request.Request(url, headers={"Authorization": "Bearer " + "t" * 16})
...     with urllib.request.urlopen(ask) as answer:
...         print([m["serving_version"] for m in json.load(answer)["models"]])
401
['1']
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from driftline.exceptions import DriftlineError
from driftline.ui.access import authorized, check_bind
from driftline.ui.series import Series

log = logging.getLogger("driftline.ui")


def _page() -> bytes:
    return resources.files("driftline.ui").joinpath("page.html").read_bytes()


class DashboardServer:
    """Serves the dashboard until :meth:`close`; ``port=0`` takes a free port (see :attr:`port`).

    Parameters
    ----------
    series
        What the topic reader has built; read under ``lock``.
    registry
        A :class:`~driftline.ui.lineage.RegistryView`, or None for none.
    token
        Required of every request but ``/healthz`` when set; a bind beyond loopback needs one.
    status
        Returns the topic reader's state for ``/api/status``.
    """

    def __init__(self, series: Series, registry: Any, token: str = "", host: str = "127.0.0.1",
                 port: int = 0, lock: Any = None, status: Any = None) -> None:
        check_bind(host, token)
        self.series = series
        self.registry = registry
        self.token = token
        self.lock = lock if lock is not None else threading.Lock()
        self.status = status or (lambda: {})
        self.page = _page()
        handler = type("Handler", (_Handler,), {"app": self})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise DriftlineError(f"cannot serve the dashboard on {host}:{port}: "
                                 f"{exc.strerror or exc}") from None
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="driftline-ui",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ answers

    def models(self) -> dict[str, Any]:
        """Every model the topics or the registry know, with the version serving it.

        The serving version is the registry's champion; without a registry, the
        newest champion announced on model-versions; without either, the version
        the services report in the metrics.
        """
        with self.lock:
            seen = {m["model_id"]: m for m in self.series.models()}
        registered = self.registry.models() if self.registry is not None else {}
        out = []
        for model_id in sorted(set(seen) | set(registered)):
            m = seen.get(model_id) or {"model_id": model_id}
            lineage = registered.get(model_id)
            champion = lineage["champion"] if lineage else None
            out.append({**m, "serving_version": champion or m.get("announced_version")
                        or m.get("reported_version"),
                        "registry_champion": champion, "lineage": lineage})
        return {"models": out,
                "registry_error": None if self.registry is None else self.registry.error}

    def model_series(self, model_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.series.series(model_id)

    def alerts(self, model_id: str | None) -> dict[str, Any]:
        with self.lock:
            return {"alerts": self.series.alerts(model_id)}


class _Handler(BaseHTTPRequestHandler):
    app: DashboardServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/healthz":
            return self._send(200, b"ok\n", "text/plain; charset=utf-8")
        if not authorized(self.app.token, self.headers.get("Authorization"),
                          (query.get("token") or [None])[0]):
            return self._json(401, {"error": "a token is needed: Authorization: Bearer <token> "
                                             "or ?token=<token>"})
        model = (query.get("model") or [None])[0]
        if url.path == "/":
            return self._send(200, self.app.page, "text/html; charset=utf-8")
        if url.path == "/api/status":
            return self._json(200, self.app.status())
        if url.path == "/api/models":
            return self._json(200, self.app.models())
        if url.path == "/api/alerts":
            return self._json(200, self.app.alerts(model))
        if url.path == "/api/series":
            if not model:
                return self._json(400, {"error": "name a model: /api/series?model=<model_id>"})
            found = self.app.model_series(model)
            if found is None:
                return self._json(404, {"error": f"no metrics for model {model!r} in the topics"})
            return self._json(200, found)
        return self._json(404, {"error": f"no such page: {url.path}"})

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(405, b"", "text/plain; charset=utf-8")

    def _refuse(self) -> None:
        self._json(405, {"error": "the dashboard is read only"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _json(self, code: int, doc: Any) -> None:
        try:
            body = json.dumps(doc, allow_nan=False, default=str)
        except ValueError:  # a NaN or infinity read from a topic: no JSON a browser parses
            body = json.dumps(_finite(doc), default=str)
        self._send(code, body.encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # The page loads nothing from elsewhere; a browser may hold it to that.
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                                    "style-src 'unsafe-inline'; img-src 'self' data:")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server name)
        log.debug("%s %s", self.address_string(), format % args)


def _finite(doc: Any) -> Any:
    """``doc`` with every NaN and infinity replaced by None.

    >>> _finite({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_finite(v) for v in doc]
    return doc


def run_dashboard(settings: Any, stop: threading.Event, host: str | None = None,
                  port: int | None = None, out: Any = None) -> None:
    """``driftline ui``: the topic reader and the server, until ``stop`` is set."""
    from driftline.ui.feed import TopicFeed
    from driftline.ui.lineage import RegistryView

    host = host or settings.ui_host
    port = settings.ui_port if port is None else port
    token = settings.ui_token.reveal()
    check_bind(host, token)  # before any connection
    series = Series(max_points=settings.ui_max_points)
    feed = TopicFeed(settings, series)
    registry = RegistryView(settings.resolved_registry_url)
    try:
        with DashboardServer(series, registry, token=token, host=host, port=port, lock=feed.lock,
                             status=feed.status) as server:
            feed.start()
            shown = f"[{server.host}]" if ":" in server.host else server.host
            print(f"ui: serving the dashboard on http://{shown}:{server.port}/"
                  + (" (token required)" if token else ""), file=out, flush=True)
            stop.wait()
    finally:
        feed.close()
        registry.close()
