"""What each receiver is sent for one alert: pure functions of the alert and the clock.

>>> from driftline.contract import Alert
>>> a = Alert(alert_id="a1", model_id="fraud", model_version="3", kind="data_drift",
...           severity="warning", detector="ks", feature="amount", value=0.31, threshold=0.2,
...           event_ts=1732356000123, ts=1732356000999, message="amount moved",
...           episode_id="ep1", status="firing")
>>> [x["labels"]["alertname"] for x in alertmanager_alerts(a, firing_ttl_s=3600)]
['DriftlineDataDrift']
>>> alertmanager_alerts(a, firing_ttl_s=3600)[0]["endsAt"]
'2024-11-23T11:00:00.999Z'
>>> print(slack_text(a))
:warning: *WARNING* fraud v3: data_drift on `amount`
ks = 0.31 (threshold 0.2), event time 2024-11-23 10:00:00 UTC
> amount moved
>>> signature(b'{"x":1}', "0123456789abcdef")
'sha256=01dbaba14e8dac19e942be688692ad5439a6e5f4bf2544e1b446f93e4110507c'
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

from driftline.contract import SEVERITIES, Alert

# The header a webhook receiver checks: HMAC-SHA256 of the raw body under the shared secret.
SIGNATURE_HEADER = "X-Driftline-Signature-256"

_ALERTNAMES = {"data_drift": "DriftlineDataDrift", "concept_drift": "DriftlineConceptDrift",
               "performance": "DriftlinePerformance", "data_quality": "DriftlineDataQuality"}


def _iso(ms: float) -> str:
    when = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def alertmanager_labels(alert: Alert, severity: str | None = None) -> dict[str, str]:
    """The labels that identify an episode's alert in Alertmanager (its fingerprint).

    ``episode_id`` is a label so that each episode is its own alert, and the
    resolved event ends exactly that one.
    """
    labels = {"alertname": _ALERTNAMES.get(alert.kind, "DriftlineAlert"), "model_id": alert.model_id,
              "model_version": alert.model_version, "kind": alert.kind,
              "severity": severity or alert.severity}
    if alert.feature is not None:
        labels["feature"] = alert.feature
    labels["episode_id"] = alert.episode_id or alert.alert_id
    return labels


def alertmanager_alerts(alert: Alert, firing_ttl_s: float, now_ms: float | None = None) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts`` for one alert.

    A firing alert lasts ``firing_ttl_s`` from now unless sent again; a
    resolved one ends both severities of its episode (an escalation fires the
    critical one next to the warning).
    """
    annotations = {"summary": alert.message, "detector": alert.detector, "value": f"{alert.value:.6g}",
                   "threshold": f"{alert.threshold:.6g}", "alert_id": alert.alert_id,
                   "event_time": _iso(alert.event_ts)}
    if alert.status == "resolved":
        return [{"labels": alertmanager_labels(alert, s), "annotations": annotations,
                 "startsAt": _iso(alert.ts), "endsAt": _iso(alert.ts)} for s in SEVERITIES]
    now_ms = alert.ts if now_ms is None else now_ms
    return [{"labels": alertmanager_labels(alert), "annotations": annotations,
             "startsAt": _iso(alert.ts), "endsAt": _iso(now_ms + firing_ttl_s * 1000)}]


def signature(body: bytes, secret: str) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def slack_text(alert: Alert) -> str:
    """A readable message with the figures, in Slack's mrkdwn."""
    where = f" on `{alert.feature}`" if alert.feature else ""
    when = datetime.fromtimestamp(alert.event_ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if alert.status == "resolved":
        head = f":white_check_mark: *RESOLVED* {alert.model_id} v{alert.model_version}: {alert.kind}{where}"
    else:
        icon = ":rotating_light:" if alert.severity == "critical" else ":warning:"
        head = f"{icon} *{alert.severity.upper()}* {alert.model_id} v{alert.model_version}: {alert.kind}{where}"
    figures = (f"{alert.detector} = {alert.value:.4g} (threshold {alert.threshold:.4g}), "
               f"event time {when}")
    return f"{head}\n{figures}\n> {alert.message}"


def slack_body(alert: Alert) -> dict[str, Any]:
    return {"text": slack_text(alert), "mrkdwn": True}
