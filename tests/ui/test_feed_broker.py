"""The dashboard's topic reader on a real broker: history, then live records; no group, no new topics."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaAdminClient

from driftline.kafka_admin import ensure_topics
from driftline.ui.feed import TopicFeed
from driftline.ui.series import Series
from tests.integration.kafka_io import produce_to

pytestmark = pytest.mark.broker


def _metrics(i: int, version: str) -> bytes:
    return json.dumps({"model_id": "m", "model_version": version, "ts": i, "event_ts": 1000 * i,
                       "n_predictions": 100 * i, "n_labeled": 80 * i, "n_expired": 0, "n_invalid": 0,
                       "accuracy": 0.9, "label_coverage": 0.8, "features": {},
                       "drift": [{"detector": "ks", "feature": "x", "statistic": i / 100,
                                  "threshold": 0.2}]}).encode()


def _wait(check, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_reads_the_history_then_follows_without_a_group(settings, kafka_bootstrap):
    ensure_topics(settings)
    p = settings.topic_prefix
    produce_to(kafka_bootstrap, [(f"{p}metrics", b"m", _metrics(i, "1")) for i in range(1, 4)]
               + [(f"{p}metrics", b"m", b"not json"),
                  (f"{p}alerts", b"m", json.dumps({"alert_id": "a1", "model_id": "m", "event_ts": 2500}).encode())])
    series = Series()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        groups_before = {g["group_id"] for g in admin.list_groups()}
        feed = TopicFeed(settings, series, rescan_s=0.5).start()
        try:
            assert feed.caught_up.wait(30), feed.status()
            with feed.lock:
                assert len(series.series("m")["points"]) == 3
                assert [a["alert_id"] for a in series.alerts()] == ["a1"]
            assert feed.status()["malformed"] == 1
            # Live: a new version's records and its announcement arrive after the history.
            produce_to(kafka_bootstrap, [(f"{p}metrics", b"m", _metrics(4, "2")),
                                         (f"{p}model-versions", b"m", json.dumps(
                                             {"model_id": "m", "version": "2", "status": "champion"}).encode())])

            def seen() -> bool:
                with feed.lock:
                    return len(series.series("m")["points"]) == 4 and bool(series.models()[0]["announced_version"])
            _wait(seen)
            with feed.lock:
                assert series.series("m")["version_changes"] == [
                    {"event_ts": 4000, "version": "2", "from_version": "1"}]
                assert series.series("m")["drift"][0]["points"][-1] == [4000, 0.04, 0.2]
        finally:
            feed.close()
        assert {g["group_id"] for g in admin.list_groups()} == groups_before
    finally:
        admin.close()


def test_creates_no_topic_while_none_exists(settings, kafka_bootstrap):
    feed = TopicFeed(settings, Series(), rescan_s=0.2).start()
    try:
        time.sleep(2.0)  # several rounds of looking for the topics
        assert not feed.caught_up.is_set() and feed.status()["error"] is None
    finally:
        feed.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert not [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
    finally:
        admin.close()
