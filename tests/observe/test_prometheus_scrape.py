"""A real Prometheus (Debian's package) scrapes a running monitor; PromQL gives what the metrics topic says."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.contract import Topics, decode_metrics, dumps
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.settings import Settings
from tests.daemons import program, serving
from tests.integration.kafka_io import produce_to, read
from tests.notify.http_receiver import free_port

pytestmark = pytest.mark.broker

EVENTS = 600


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def prometheus(directory: Path, target: str) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping ``target`` (host:port) every second; its URL."""
    binary = program("prometheus", package="prometheus")
    config = directory / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "driftline-monitor", "static_configs": [{"targets": [target]}]}],
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{port}"], url + "/-/ready", directory / "prometheus.log"):
        yield url


def _query(url: str, promql: str) -> float | None:
    answer = _get_json(f"{url}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_monitor_and_promql_matches_the_metrics_topic(kafka_bootstrap, tmp_path):
    http_port = free_port()
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                        home=str(tmp_path / "home"), partitions=1, batch_within_s=0.1, metrics_every=1,
                        reference_size=200, http_port=http_port)
    ensure_topics(settings)
    t = Topics(settings.topic_prefix)
    model = f"prom-{uuid.uuid4().hex[:6]}"
    messages = []
    for i in range(EVENTS):
        ts = 1_732_356_000_000 + i * 100
        messages.append((t.predictions, model.encode(), dumps({
            "event_id": f"p{i}", "model_id": model, "model_version": "1", "ts": ts,
            "features": {"x": float(i % 11), "country": "NL" if i % 3 else "DE"}, "prediction": i % 2})))
        if i % 4:  # three of four labelled; one in five labels wrong
            messages.append((t.feedback, model.encode(), dumps({
                "event_id": f"f{i}", "prediction_id": f"p{i}", "model_id": model, "ts": ts + 50,
                "label": (i % 2) if i % 5 else 1 - i % 2})))
    with run_roles(settings, ["monitor"], tmp_path / "logs") as procs, \
            prometheus(tmp_path, f"127.0.0.1:{http_port}") as prom:
        produce_to(kafka_bootstrap, messages)

        # A metrics record after every batch with predictions: the last one counts them all.
        def done(records) -> bool:
            mine = [decode_metrics(r.value) for r in records if r.key == model.encode()]
            return bool(mine) and mine[-1].n_predictions == EVENTS

        records = read(kafka_bootstrap, t.metrics, until=done, timeout_s=120)
        assert done(records), (tmp_path / "logs" / "monitor.log").read_text()[-3000:]
        last = [decode_metrics(r.value) for r in records if r.key == model.encode()][-1]
        assert last.accuracy is not None and last.n_labeled > 0

        wanted = {f'driftline_predictions_total{{model_id="{model}"}}': float(last.n_predictions),
                  f'driftline_labels_total{{model_id="{model}"}}': float(last.n_labeled),
                  f'driftline_accuracy{{model_id="{model}"}}': last.accuracy}
        # Each drift test's statistic and threshold, as the record carries them.
        assert "cusum" in {d["detector"] for d in last.drift}, last.drift
        for d in last.drift:
            labels = f'model_id="{model}",detector="{d["detector"]}",feature="{d["feature"] or ""}"'
            wanted[f"driftline_drift_statistic{{{labels}}}"] = d["statistic"]
            wanted[f"driftline_drift_threshold{{{labels}}}"] = d["threshold"]
        deadline = time.monotonic() + 60
        got: dict[str, float | None] = {}
        while time.monotonic() < deadline:
            got = {q: _query(prom, q) for q in wanted}
            if all(v is not None and abs(v - wanted[q]) < 1e-9 for q, v in got.items()):
                break
            time.sleep(1)
        assert got == pytest.approx(wanted, abs=1e-9), (got, wanted)
        # Read to the end of its input, with state of its own on the state topic.
        lag = [f'driftline_consumer_lag{{topic="{topic}",partition="0"}}' for topic in (t.predictions, t.feedback)]
        deadline = time.monotonic() + 30
        while [_query(prom, q) for q in lag] != [0.0, 0.0] and time.monotonic() < deadline:
            time.sleep(1)
        assert [_query(prom, q) for q in lag] == [0.0, 0.0]
        assert _query(prom, f'driftline_state_bytes{{model_id="{model}"}}') > 1000
        # The target is up and a range query sees the counter only growing.
        assert _query(prom, 'up{job="driftline-monitor"}') == 1.0
        assert _query(prom, f'resets(driftline_predictions_total{{model_id="{model}"}}[5m])') == 0.0
        assert procs["monitor"].poll() is None
