"""A worker's exporter and, when ``DRIFTLINE_HTTP_PORT`` is set, the server showing it.

>>> from driftline.settings import Settings
>>> with observed(Settings(metrics_max_models=5)) as exporter:
...     exporter.models.max_models
5
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from driftline.observe.exporter import MetricsExporter
from driftline.observe.http import serve
from driftline.settings import Settings


@contextlib.contextmanager
def observed(settings: Settings, ready: Callable[[], bool] = lambda: True) -> Iterator[MetricsExporter]:
    """An exporter for one worker; served on ``settings.http_host:http_port`` while the block runs.

    ``ready`` answers ``/readyz``: the worker's own test of having its
    partitions and its state.
    """
    exporter = MetricsExporter(max_models=settings.metrics_max_models, process_collectors=True)
    server = serve(exporter, settings.http_port, settings.http_host, ready=ready)
    try:
        yield exporter
    finally:
        if server is not None:
            server.close()
