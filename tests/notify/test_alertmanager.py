"""driftline notify -> a real Alertmanager (Debian's package) -> a local webhook receiver, firing then resolved."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemons import program, serving
from tests.notify.http_receiver import HttpReceiver, free_port
from tests.notify.test_notify_broker import Running, alert, send

pytestmark = pytest.mark.broker


@contextlib.contextmanager
def alertmanager(directory: Path, forward_to: str) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 that forwards every group to ``forward_to`` at once; its URL."""
    binary = program("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
    config = directory / "alertmanager.yml"
    config.write_text(json.dumps({
        "route": {"receiver": "test", "group_by": ["alertname", "model_id", "episode_id"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "test", "webhook_configs": [{"url": forward_to, "send_resolved": True}]}],
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([binary, f"--config.file={config}", f"--storage.path={directory / 'data'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                 url + "/-/ready", directory / "alertmanager.log"):
        yield url


def _notifications(receiver: HttpReceiver, status: str, n: int, timeout_s: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = [r.json for r in receiver.received if r.json.get("status") == status]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        receiver.wait_for(len(receiver.received) + 1, timeout_s=1.0)


def test_an_episode_fires_and_resolves_through_a_real_alertmanager(notify_settings, tmp_path):
    with HttpReceiver() as hook, alertmanager(tmp_path, hook.url + "/am") as am:
        s = notify_settings(notify_alertmanager_url=am)
        firing = alert(1, episode="ep-am-1")
        with Running(s):
            send(s, [firing])
            fired = _notifications(hook, "firing", 1)
            assert fired, [r.json for r in hook.received]
            [group] = fired[:1]
            [am_alert] = group["alerts"]
            assert am_alert["status"] == "firing"
            assert am_alert["labels"] == {"alertname": am_alert["labels"]["alertname"], "model_id": "fraud",
                                          "model_version": "3", "kind": "data_drift", "severity": "warning",
                                          "feature": "x1", "episode_id": "ep-am-1"}
            assert am_alert["annotations"]["summary"] == "x1 moved"
            assert am_alert["annotations"]["alert_id"] == firing.alert_id

            send(s, [alert(1, episode="ep-am-1", status="resolved")])
            resolved = _notifications(hook, "resolved", 1)
            assert resolved, [r.json for r in hook.received]
            # The resolved event ends both severities of the episode (an escalation may have fired).
            ended = {a["labels"]["severity"]: a["status"] for a in resolved[0]["alerts"]
                     if a["labels"]["episode_id"] == "ep-am-1"}
            assert ended.get("warning") == "resolved" and set(ended.values()) == {"resolved"}, resolved
        # What Alertmanager holds now: nothing active for the episode.
        with urllib.request.urlopen(am + "/api/v2/alerts?active=true&silenced=false&inhibited=false",
                                    timeout=5) as answer:
            active = json.loads(answer.read())
        assert not [a for a in active if a["labels"].get("episode_id") == "ep-am-1"], active
