"""What a worker shows to Prometheus: the metric families, and the HTTP endpoints serving them.

A worker builds one :class:`MetricsExporter`, feeds it what it publishes, and
serves it with :func:`serve` (``/metrics``, ``/healthz``, ``/readyz``) when
``DRIFTLINE_HTTP_PORT`` is set.
"""

from driftline.observe.exporter import MetricsExporter
from driftline.observe.http import ObservabilityServer, serve
from driftline.observe.reasons import reason_class

__all__ = ["MetricsExporter", "ObservabilityServer", "reason_class", "serve"]
