"""Receivers: where an alert goes, how it is posted, and what an answer means.

An answer is one of three things: delivered (2xx), worth trying again (no
connection, a timeout, 5xx, 408, 429), or refused for good (any other status:
the receiver will not take this alert, however often it is sent).

>>> bucket = RateLimit(per_minute=60, clock=lambda: 0.0)
>>> [bucket.wait_s() for _ in range(7)][-2:]   # a burst of 6, then one a second
[0.0, 1.0]
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftline.contract import Alert
from driftline.notify.formats import SIGNATURE_HEADER, alertmanager_alerts, signature, slack_body

# Longest part of a receiver's answer kept in a log line or a dead letter.
ANSWER_CHARS = 500


@dataclass(frozen=True)
class Answer:
    """What one attempt came to."""

    delivered: bool
    retry: bool
    detail: str  # the status and the head of the body, or the connection error
    retry_after_s: float | None = None


class Receiver:
    """One destination. Subclasses say what body and headers an alert becomes."""

    name = "receiver"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def request(self, alert: Alert, raw: bytes) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                return Answer(True, False, f"HTTP {r.status}")
        except urllib.error.HTTPError as exc:
            with exc:
                text = exc.read(ANSWER_CHARS * 4).decode("utf-8", "replace").strip()[:ANSWER_CHARS]
                after = _retry_after(exc.headers.get("Retry-After"))
            retry = exc.code >= 500 or exc.code in (408, 429)
            return Answer(False, retry, f"HTTP {exc.code}: {text}" if text else f"HTTP {exc.code}", after)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Answer(False, True, f"no answer: {reason}")

    def deliver(self, alert: Alert, raw: bytes) -> Answer:
        body, headers = self.request(alert, raw)
        return self.post(body, headers)

    def __repr__(self) -> str:  # the URL may hold a token (Slack's does)
        return f"{type(self).__name__}()"


class AlertmanagerReceiver(Receiver):
    """Alertmanager's API v2: ``POST /api/v2/alerts``; open episodes are sent again to stay firing."""

    name = "alertmanager"

    def __init__(self, url: str, timeout_s: float = 10.0, firing_ttl_s: float = 3600.0,
                 max_open: int = 10_000) -> None:
        super().__init__(url.rstrip("/") + "/api/v2/alerts", timeout_s)
        self.firing_ttl_s = firing_ttl_s
        self.max_open = max_open
        self.open: dict[str, Alert] = {}  # episode -> its latest firing alert
        self._lock = threading.Lock()

    def request(self, alert: Alert, raw: bytes) -> tuple[bytes, dict[str, str]]:
        return json.dumps(alertmanager_alerts(alert, self.firing_ttl_s, _now_ms())).encode(), {}

    def deliver(self, alert: Alert, raw: bytes) -> Answer:
        answer = super().deliver(alert, raw)
        if answer.delivered:
            episode = alert.episode_id or alert.alert_id
            with self._lock:
                if alert.status == "resolved":
                    self.open.pop(episode, None)
                elif len(self.open) < self.max_open or episode in self.open:
                    self.open[episode] = alert
        return answer

    def refresh(self) -> Answer | None:
        """Send every open episode again with a later end, so that none expires while it lasts."""
        with self._lock:
            alerts = list(self.open.values())
        if not alerts:
            return None
        now = _now_ms()
        body = [x for a in alerts for x in alertmanager_alerts(a, self.firing_ttl_s, now)]
        return self.post(json.dumps(body).encode(), {})


class WebhookReceiver(Receiver):
    """A generic webhook: the alert's own JSON, signed with HMAC-SHA256 when a secret is set."""

    name = "webhook"

    def __init__(self, url: str, secret: str = "", timeout_s: float = 10.0) -> None:
        super().__init__(url, timeout_s)
        self._secret = secret

    def request(self, alert: Alert, raw: bytes) -> tuple[bytes, dict[str, str]]:
        body = alert.encode()
        headers = {"X-Driftline-Event": "alert", "X-Driftline-Delivery": f"{alert.alert_id}"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(body, self._secret)
        return body, headers


class SlackReceiver(Receiver):
    """A Slack incoming webhook: one readable message with the figures."""

    name = "slack"

    def request(self, alert: Alert, raw: bytes) -> tuple[bytes, dict[str, str]]:
        return json.dumps(slack_body(alert)).encode(), {}


class RateLimit:
    """A token bucket: ``per_minute`` deliveries, bursts of a tenth of that (at least 1)."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(per_minute / 10.0, 1.0)
        self.clock = clock
        self._tokens = self.burst
        self._at = clock()

    def wait_s(self) -> float:
        """Take a token; how long to wait before using it."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def backoff_s(attempt: int, first_s: float = 0.5, max_s: float = 30.0) -> float:
    """Seconds before attempt ``attempt + 1``: doubling from ``first_s`` up to ``max_s``.

    >>> [backoff_s(n) for n in range(1, 9)]
    [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    """
    return min(first_s * 2 ** (attempt - 1), max_s)


def _retry_after(value: Any) -> float | None:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
