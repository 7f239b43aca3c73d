"""The HTTP endpoints: /metrics in the exposition format, /healthz, /readyz from the worker's answer."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from driftline.exceptions import DriftlineError
from driftline.observe import MetricsExporter, ObservabilityServer, serve
from driftline.observe.worker import observed
from driftline.settings import Settings


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def test_endpoints_answer_and_readiness_follows_the_worker():
    ready = threading.Event()
    ex = MetricsExporter()
    ex.set_serving("fraud", "7")
    with ObservabilityServer(ex, ready=ready.is_set, port=0) as server:
        assert get(server.port, "/healthz")[0] == 200
        assert get(server.port, "/readyz")[0] == 503
        ready.set()
        assert get(server.port, "/readyz")[0] == 200
        code, ctype, body = get(server.port, "/metrics")
        assert code == 200 and ctype.startswith("text/plain; version=0.0.4")
        assert b'driftline_serving_version_info{model_id="fraud",version="7"} 1.0' in body
        assert get(server.port, "/nothing")[0] == 404


def test_a_readiness_check_that_raises_means_not_ready():
    def broken() -> bool:
        raise RuntimeError("no")

    with ObservabilityServer(MetricsExporter(), ready=broken, port=0) as server:
        assert get(server.port, "/readyz")[0] == 503


def test_port_zero_is_off_and_a_taken_port_is_one_line():
    assert serve(MetricsExporter(), 0) is None
    with ObservabilityServer(MetricsExporter(), port=0) as server:
        with pytest.raises(DriftlineError, match=rf"cannot serve metrics on 127.0.0.1:{server.port}: "):
            ObservabilityServer(MetricsExporter(), port=server.port)


def test_observed_serves_on_the_configured_port_while_the_block_runs():
    with ObservabilityServer(MetricsExporter(), port=0) as probe:  # a port known to be free after
        port = probe.port
    with observed(Settings(http_port=port), ready=lambda: True) as ex:
        ex.observe_dead_letter("missing field 'ts'")
        body = get(port, "/metrics")[2]
        assert b'driftline_dead_letters_total{reason="invalid_event"} 1.0' in body
        assert b"process_cpu_seconds_total" in body
    with pytest.raises(urllib.error.URLError):
        get(port, "/healthz")
