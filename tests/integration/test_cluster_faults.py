"""A 3-broker KRaft cluster on loopback loses one broker to ``kill -9`` under load, and loses nothing.

The topics have replication factor 3 and ``min.insync.replicas`` 2, so an
event acknowledged to an ``acks=all`` producer is on two brokers at least. A
service publishes predictions and feedback at a steady rate through
``EventPublisher`` while ``python -m driftline monitor`` runs; the leader of
the first predictions partition is killed a third of the way in, and
publishing goes on. At the end every acknowledged prediction is on the
predictions topic exactly once, and the monitor's last metrics record of each
model counts every one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from driftline.broker import LocalBroker, LocalCluster
from driftline.contract import Topics
from driftline.kafka_admin import Replication, ensure_topics, existing_replication
from driftline.settings import Settings
from tests.conftest import _unavailable
from tests.integration.paced import (PacedPublisher, acknowledged_by_model, tally,
                                     wait_monitor_done)
from tests.integration.test_monitor_faults import Workers, wait_members

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MODELS = ["fraud", "churn", "eta"]
PREDICTIONS = 15_000  # and as many feedback events
PER_S = 600



@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
    except Exception as exc:
        _unavailable("a 3-broker local Kafka cluster", str(exc))
    try:
        yield c
    finally:
        c.stop()


def active_controller(cluster: LocalCluster) -> int | None:
    """The node whose log says it became the active controller last (the log is at WARN)."""
    latest = None
    for node in cluster.nodes:
        for line in node.log_file.read_text(errors="replace").splitlines():
            if "Performing controller activation" in line and (latest is None or line[:25] > latest[0]):
                latest = (line[:25], node.node_id)
    return latest[1] if latest else None


def leader_of(settings: Settings, topic: str, partition: int) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        [described] = admin.describe_topics([topic])
        return next(p["leader_id"] for p in described["partitions"] if p["partition_index"] == partition)
    finally:
        admin.close()


def test_kill_9_of_one_broker_of_three_loses_no_acknowledged_event(cluster: LocalCluster,
                                                                    tmp_path: Path) -> None:
    s = Settings(kafka_bootstrap=cluster.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path / "home"), partitions=3, replication_factor=3,
                 min_insync_replicas=2, metrics_every=1, log_level="INFO")
    t = Topics(s.topic_prefix)
    ensure_topics(s)
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    try:
        assert existing_replication(admin, [t.predictions, t.feedback, t.metrics]) == \
            dict.fromkeys([t.predictions, t.feedback, t.metrics], Replication(3, 2))
    finally:
        admin.close()
    victim_id = leader_of(s, t.predictions, 0)
    victim: LocalBroker = cluster.nodes[victim_id - 1]
    controller = active_controller(cluster)
    pub = PacedPublisher(s, MODELS, PREDICTIONS, PER_S)
    with Workers(s, tmp_path / "logs") as workers:
        monitor = workers.start()
        wait_members(s, 1, [monitor])
        pub.start()
        try:
            pub.wait_for(PREDICTIONS // 3, timeout_s=120)
            killed_at = time.monotonic()
            assert victim.kill()
            acked_at_kill = len(pub.acked)
        finally:
            pub.join(timeout=240)
        assert not pub.is_alive() and pub.error is None, pub.error
        published_s = time.monotonic() - killed_at
        wait_monitor_done(s, lambda: monitor.poll() is None)
        assert monitor.poll() is None, f"the monitor exited:\n{Workers.tail(monitor)}"
        workers.stop(monitor)

    got = tally(s, pub)
    print(f"\n{got.row('3 brokers, kill -9 of one')}; killed node {victim_id} (leader of "
          f"{t.predictions}-0; active controller: node {controller}) with {acked_at_kill} acknowledged; "
          f"the rest published in {published_s:.1f} s after the kill")
    assert got.sent == PREDICTIONS and got.failed == 0
    assert (got.lost, got.duplicated) == (0, 0)
    assert got.acknowledged == got.on_topic == PREDICTIONS
    # Every prediction counted once, model by model.
    assert got.counted_by_model == acknowledged_by_model(pub)
