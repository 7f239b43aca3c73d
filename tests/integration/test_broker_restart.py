"""The broker stopped and started again while a service publishes at a steady rate and a monitor runs.

A broker of the test's own (its data folder and ports kept across the
restart) takes predictions and feedback from ``EventPublisher`` at a few
hundred a second for about 40 s; a third of the way in it is stopped for
15 s, then started again on the same port and data. The monitor process runs
throughout, watched as a supervisor would (a monitor that exits is started
again, and the test says so). At the end every prediction the publisher
reported as sent is on the topic exactly once, and the monitor has counted
each of them.

The dead-letter topic must stay empty: before a fix in the monitor's output,
its idempotent producer was refused with ``OutOfOrderSequenceNumber`` after
the restart and sent its labeled and metrics outputs there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.broker import LocalBroker, free_port
from driftline.kafka_admin import ensure_topics
from driftline.settings import Settings
from tests.conftest import _unavailable
from tests.integration.paced import (PacedPublisher, acknowledged_by_model, dead_letters, tally,
                                     wait_monitor_done)
from tests.integration.test_monitor_faults import Workers, wait_members

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MODELS = ["fraud", "churn"]
PER_S = 300
PUBLISH_S = 40
DOWN_S = 15



@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    broker = LocalBroker(tmp_path / "broker", port=free_port(), controller_port=free_port())
    try:
        broker.start()
    except Exception as exc:
        _unavailable("a local Kafka broker", str(exc))
    try:
        yield broker
    finally:
        broker.stop()


class Supervised:
    """A monitor process started again whenever it has exited, as a supervisor would."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.proc = workers.start()
        self.exits: list[tuple[float, int]] = []  # (time, exit code) of each exit seen

    def keep_up(self) -> bool:
        if self.proc.poll() is not None:
            self.exits.append((time.monotonic(), self.proc.returncode))
            self.proc = self.workers.start()
        return True

    def watch(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.keep_up()
            time.sleep(0.2)


def test_a_broker_stopped_and_started_again_loses_and_duplicates_nothing(own_broker: LocalBroker,
                                                                         tmp_path: Path) -> None:
    s = Settings(kafka_bootstrap=own_broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path / "home"), partitions=2, metrics_every=1, log_level="INFO")
    ensure_topics(s)
    pub = PacedPublisher(s, MODELS, PER_S * PUBLISH_S, PER_S)
    with Workers(s, tmp_path / "logs") as workers:
        monitor = Supervised(workers)
        first = monitor.proc
        wait_members(s, 1, [first])
        pub.start()
        try:
            pub.wait_for(PER_S * PUBLISH_S // 3, timeout_s=60)
            stopped_at = time.monotonic()
            assert own_broker.stop()
            sent_at_stop = pub.sent
            monitor.watch(DOWN_S)
            sent_while_down = pub.sent - sent_at_stop
            restarting = time.monotonic()
            own_broker.start()
            back_s = time.monotonic() - restarting
        finally:
            pub.join(timeout=240)
        assert not pub.is_alive() and pub.error is None, pub.error
        publish_s = time.monotonic() - stopped_at
        wait_monitor_done(s, monitor.keep_up)
        monitor.keep_up()
        last = monitor.proc
        workers.stop(last)

    got = tally(s, pub)
    refused = dead_letters(s)
    exits = ", ".join(f"code {code} {at - stopped_at:.1f} s after the stop" for at, code in monitor.exits)
    print(f"\n{got.row(f'broker down {DOWN_S} s')}; {sent_while_down} predictions published while it "
          f"was down; it answered again {back_s:.1f} s after its start; the rest acknowledged "
          f"{publish_s:.1f} s after the stop; monitor exits: {exits or 'none'}; "
          f"dead letters: {dict(refused) or 'none'}")
    # What the publisher was told is what the topic holds.
    assert got.sent == PER_S * PUBLISH_S and got.failed == 0
    assert sent_while_down > 0.8 * PER_S * DOWN_S  # the publisher went on at its rate meanwhile
    assert (got.lost, got.duplicated) == (0, 0)
    assert got.acknowledged == got.on_topic == got.sent
    # The monitor resumed by itself: the process that ran before the stop went on to the end.
    assert not monitor.exits and last is first, exits
    assert not refused, dict(refused)
    assert got.counted_by_model == acknowledged_by_model(pub)
