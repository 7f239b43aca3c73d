"""driftline notify's settings: one line for a mistake, and secrets never shown."""

from __future__ import annotations

import os
import subprocess
import sys


def run_notify(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    return subprocess.run([sys.executable, "-m", "driftline", "notify"], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_no_receiver_is_one_line_and_exit_2():
    out = run_notify(DRIFTLINE_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "driftline notify: error: no receiver configured: set DRIFTLINE_NOTIFY_ALERTMANAGER_URL, "
        "DRIFTLINE_NOTIFY_WEBHOOK_URL or DRIFTLINE_NOTIFY_SLACK_URL"]


def test_a_bad_slack_url_is_named_but_not_shown():
    out = run_notify(DRIFTLINE_NOTIFY_SLACK_URL="hooks.slack.com/services/T0/B0/token-xyz")
    assert out.returncode == 2
    assert "DRIFTLINE_NOTIFY_SLACK_URL" in out.stderr and "token-xyz" not in out.stderr


def test_an_unreadable_secret_file_is_one_line(tmp_path):
    out = run_notify(DRIFTLINE_NOTIFY_WEBHOOK_URL="http://127.0.0.1:1/hook",
                     DRIFTLINE_NOTIFY_WEBHOOK_SECRET_FILE=str(tmp_path / "missing"))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "cannot read" in out.stderr


def test_the_webhook_secret_and_slack_url_may_come_from_files(tmp_path):
    from driftline.settings import Settings

    (tmp_path / "secret").write_text("s3cret-of-sixteen-chars\n")
    (tmp_path / "slack").write_text("https://hooks.slack.com/services/T0/B0/xyz\n")
    s = Settings.from_env({"DRIFTLINE_NOTIFY_WEBHOOK_SECRET_FILE": str(tmp_path / "secret"),
                           "DRIFTLINE_NOTIFY_SLACK_URL_FILE": str(tmp_path / "slack")})
    assert s.notify_webhook_secret.reveal() == "s3cret-of-sixteen-chars"
    assert s.notify_slack_url.reveal() == "https://hooks.slack.com/services/T0/B0/xyz"
    assert "s3cret" not in repr(s) and "xyz" not in repr(s)


def test_a_short_secret_in_a_file_is_refused_without_showing_it(tmp_path):
    (tmp_path / "secret").write_text("short\n")
    out = run_notify(DRIFTLINE_NOTIFY_WEBHOOK_URL="http://127.0.0.1:1/hook",
                     DRIFTLINE_NOTIFY_WEBHOOK_SECRET_FILE=str(tmp_path / "secret"))
    assert out.returncode == 2
    assert "at least 16 characters" in out.stderr and "short\n" not in out.stderr and "(the value given is not shown)" in out.stderr


def test_the_notify_secrets_are_among_those_kept_out_of_logs():
    from driftline.settings import Settings

    s = Settings(notify_webhook_secret="s3cret-of-sixteen-chars",
                 notify_slack_url="https://hooks.slack.com/services/T0/B0/xyz")
    assert {"s3cret-of-sixteen-chars", "https://hooks.slack.com/services/T0/B0/xyz"} <= set(s.secret_values())
