"""``driftline ui`` over the README demo's topics and registry, opened in a real headless Chromium.

The page is rendered by its own JavaScript; the test reads the DOM Chromium
dumps once that script ran, and compares what it shows with the registry and
the alerts topic. A screenshot is kept in the test's tmp dir.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftline.retrainer.persistence.registry_reader import RegistryReader
from driftline.settings import Settings
from tests.daemons import program
from tests.integration.conftest import ROOT

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _topic(bootstrap: str, topic: str) -> list[dict]:
    """Every record of ``topic`` up to its end now, as JSON objects."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert parts, f"topic {topic} does not exist"
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[dict] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(json.loads(r.value) for r in records)
        return out
    finally:
        consumer.close()


class _Dom(HTMLParser):
    """What the test looks for in the rendered page: elements by class, with their attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict, list[str]]] = []
        self._open: list[tuple[str, dict, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        item = (tag, dict(attrs), [])
        self.found.append(item)
        if tag not in ("br", "img", "input", "meta", "link"):
            self._open.append(item)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)

    def by_class(self, name: str) -> list[tuple[str, dict, str]]:
        return [(t, a, "".join(x)) for t, a, x in self.found if name in (a.get("class") or "").split()]


TOKEN = "a-dashboard-token-for-the-test"


@pytest.fixture
def dashboard(demo_run, tmp_path: Path):
    """The dashboard's address, with the token the page passes on to its requests."""
    assert demo_run.returncode == 0, demo_run.stdout[-2000:] + demo_run.stderr[-2000:]
    port = _free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "driftline", "ui", "--port", str(port)],
                                cwd=ROOT, env={**demo_run.env, "DRIFTLINE_UI_TOKEN": TOKEN},
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:  # until the reader has read the log as it was at its start
                assert proc.poll() is None, log.read_text()[-2000:]
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as answer:
                        if json.load(answer)["caught_up"]:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the dashboard never caught up with the topics"
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(15)
    assert proc.returncode in (0, -15), log.read_text()[-2000:]


def _chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp_path / 'chromium'}",
         "--virtual-time-budget=8000", *args],
        capture_output=True, text=True, timeout=90)


def test_the_dashboard_shows_the_demo_in_a_real_browser(demo_run, dashboard, kafka_bootstrap, tmp_path):
    chromium = program("chromium", "chromium-browser", package="chromium")
    settings = Settings.from_env(demo_run.env)
    with RegistryReader(settings.resolved_registry_url) as registry:
        (model_id,) = registry.models()
        champion = registry.champion(model_id)
    assert champion is not None, "the demo left no champion"
    alerts = [a for a in _topic(kafka_bootstrap, f"{demo_run.prefix}alerts") if a["model_id"] == model_id]
    assert alerts, "the demo fired no alert"
    metrics = [m for m in _topic(kafka_bootstrap, f"{demo_run.prefix}metrics") if m["model_id"] == model_id]

    dumped = _chromium(chromium, tmp_path, "--dump-dom", f"{dashboard}/?token={TOKEN}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Dom()
    dom.feed(dumped.stdout)
    assert re.search(r'<body[^>]*data-ready="caught-up"', dumped.stdout), dumped.stdout[:3000]

    # The serving version: the registry's champion.
    serving = {a["data-model"]: text for _, a, text in dom.by_class("serving-version")}
    assert serving == {model_id: f"v{champion.version}"}

    # The alerts: every one on the page is one of the topic's, and the topic's newest are there.
    shown = [a["data-alert-id"] for _, a, _ in dom.by_class("alert")]
    assert shown and set(shown) <= {a["alert_id"] for a in alerts}
    assert {a["alert_id"] for a in alerts[-20:]} <= set(shown)
    assert dom.by_class("alert-dot"), "no alert on the timeline"

    # The charts: accuracy drawn with a point per metrics record that has one, version changes marked.
    lines = {tuple(sorted(set(a["class"].split()) - {"line"})): int(a["data-n"])
             for _, a, _ in dom.by_class("line") if "accuracy" in a["class"].split()}
    with_accuracy = [m for m in metrics if m.get("accuracy") is not None]
    assert lines == {("accuracy",): len(with_accuracy)} and len(with_accuracy) > 0
    versions = {m["model_version"] for m in metrics}
    assert len(dom.by_class("version-mark")) >= len(versions) - 1 > 0
    # Drift statistics against thresholds, when the metrics records carry them.
    drift_keys = {(d["detector"], d.get("feature")) for m in metrics for d in m.get("drift") or ()}
    statistic_lines = [a for _, a, _ in dom.by_class("statistic")]
    assert len(statistic_lines) == len(drift_keys)
    assert all(int(a["data-n"]) > 0 for a in statistic_lines)

    # Lineage: the champion's row names its alerts and its window.
    rows = [text for _, _, text in dom.by_class("lineage-row")]
    mine = [r for r in rows if r.startswith(f"v{champion.version}champion")]
    assert mine, rows
    if champion.window.get("n_examples"):
        assert f"{champion.window['n_examples']} examples" in mine[0]

    shot = tmp_path / "ui.png"
    taken = _chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                      "--hide-scrollbars", f"{dashboard}/?token={TOKEN}")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    print(f"screenshot: {shot}")

    # Without the token the page is refused, in the browser too.
    refused = _chromium(chromium, tmp_path, "--dump-dom", dashboard + "/")
    assert "driftline dashboard" not in refused.stdout and "a token is needed" in refused.stdout


def test_the_dashboard_refuses_other_writes(dashboard):
    ask = urllib.request.Request(dashboard + "/api/models", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(ask, timeout=5)
    assert refused.value.code == 405
    refused.value.close()
