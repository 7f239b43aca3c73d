"""Settings for every driftline role, read once from ``DRIFTLINE_*`` variables.

All environment-variable names live in :data:`ENV`; nothing else in the code
base reads the environment for configuration.

>>> s = Settings.from_env({"DRIFTLINE_KAFKA_BOOTSTRAP": "127.0.0.1:19092"})
>>> s.kafka_bootstrap, s.topic_prefix, s.partitions
('127.0.0.1:19092', 'driftline.', 3)
>>> Settings.from_env({"DRIFTLINE_PARTITIONS": "zero"})
Traceback (most recent call last):
...
driftline.exceptions.SettingsError: DRIFTLINE_PARTITIONS must be an integer >= 1, got 'zero'
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from driftline.contract import ALERT_KINDS
from driftline.exceptions import SettingsError

# field name -> environment variable; the single place these names are spelled.
ENV: dict[str, str] = {
    "kafka_bootstrap": "DRIFTLINE_KAFKA_BOOTSTRAP",
    "topic_prefix": "DRIFTLINE_TOPIC_PREFIX",
    "partitions": "DRIFTLINE_PARTITIONS",
    "home": "DRIFTLINE_HOME",
    "registry_url": "DRIFTLINE_REGISTRY_URL",
    "artifact_dir": "DRIFTLINE_ARTIFACT_DIR",
    "max_message_bytes": "DRIFTLINE_MAX_MESSAGE_BYTES",
    "batch_size": "DRIFTLINE_BATCH_SIZE",
    "batch_within_s": "DRIFTLINE_BATCH_WITHIN_S",
    "label_ttl_ms": "DRIFTLINE_LABEL_TTL_MS",
    "max_pending": "DRIFTLINE_MAX_PENDING",
    "reference_size": "DRIFTLINE_REFERENCE_SIZE",
    "false_alarm_rate": "DRIFTLINE_FALSE_ALARM_RATE",
    "retrain_on": "DRIFTLINE_RETRAIN_ON",
    "metrics_every": "DRIFTLINE_METRICS_EVERY",
    "retrain_cooldown_ms": "DRIFTLINE_RETRAIN_COOLDOWN_MS",
    "min_train_examples": "DRIFTLINE_MIN_TRAIN_EXAMPLES",
    "max_train_examples": "DRIFTLINE_MAX_TRAIN_EXAMPLES",
    "retrain_wait_s": "DRIFTLINE_RETRAIN_WAIT_S",
    "gate_margin": "DRIFTLINE_GATE_MARGIN",
    "gate_metric": "DRIFTLINE_GATE_METRIC",
    "gate_confidence": "DRIFTLINE_GATE_CONFIDENCE",
    "train_timeout_s": "DRIFTLINE_TRAIN_TIMEOUT_S",
    "retrain_max_attempts": "DRIFTLINE_RETRAIN_MAX_ATTEMPTS",
    "require_registration": "DRIFTLINE_REQUIRE_REGISTRATION",
    "holdout_fraction": "DRIFTLINE_HOLDOUT_FRACTION",
    "refit": "DRIFTLINE_REFIT",
    "rollback_window": "DRIFTLINE_ROLLBACK_WINDOW",
    "rollback_confidence": "DRIFTLINE_ROLLBACK_CONFIDENCE",
    "shadow_events": "DRIFTLINE_SHADOW_EVENTS",
    "log_level": "DRIFTLINE_LOG_LEVEL",
    "processing_guarantee": "DRIFTLINE_PROCESSING_GUARANTEE",
    "commit_interval_ms": "DRIFTLINE_COMMIT_INTERVAL_MS",
    "max_models": "DRIFTLINE_MAX_MODELS",
    "max_features": "DRIFTLINE_MAX_FEATURES",
    "max_event_skew_ms": "DRIFTLINE_MAX_EVENT_SKEW_MS",
    "send_deadline_s": "DRIFTLINE_SEND_DEADLINE_S",
    "worker_id": "DRIFTLINE_WORKER_ID",
    "artifact_key": "DRIFTLINE_ARTIFACT_KEY",
    "artifact_key_file": "DRIFTLINE_ARTIFACT_KEY_FILE",
    "mlflow_tracking_uri": "DRIFTLINE_MLFLOW_TRACKING_URI",
    "mlflow_model_prefix": "DRIFTLINE_MLFLOW_MODEL_PREFIX",
    "mlflow_alias": "DRIFTLINE_MLFLOW_ALIAS",
    "http_port": "DRIFTLINE_HTTP_PORT",
    "http_host": "DRIFTLINE_HTTP_HOST",
    "metrics_max_models": "DRIFTLINE_METRICS_MAX_MODELS",
    "notify_alertmanager_url": "DRIFTLINE_NOTIFY_ALERTMANAGER_URL",
    "notify_webhook_url": "DRIFTLINE_NOTIFY_WEBHOOK_URL",
    "notify_webhook_secret": "DRIFTLINE_NOTIFY_WEBHOOK_SECRET",
    "notify_webhook_secret_file": "DRIFTLINE_NOTIFY_WEBHOOK_SECRET_FILE",
    "notify_slack_url": "DRIFTLINE_NOTIFY_SLACK_URL",
    "notify_rate_per_minute": "DRIFTLINE_NOTIFY_RATE_PER_MINUTE",
    "notify_give_up_s": "DRIFTLINE_NOTIFY_GIVE_UP_S",
    "notify_timeout_s": "DRIFTLINE_NOTIFY_TIMEOUT_S",
    "notify_firing_ttl_s": "DRIFTLINE_NOTIFY_FIRING_TTL_S",
}


# Fields whose values are never shown: not in errors, not in repr.
SECRETS = frozenset({"artifact_key", "notify_webhook_secret", "notify_slack_url"})


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0.0 or value == float("inf"):
        raise ValueError
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise ValueError
    return value


def _bootstrap(text: str) -> str:
    for server in text.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError
    return text


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError
    return level


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1e-2:
        raise ValueError
    return value


def _alert_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not set(kinds) <= set(ALERT_KINDS):
        raise ValueError
    return kinds


def _flag(text: str) -> bool:
    value = text.lower()
    if value not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ValueError
    return value in {"1", "true", "yes", "on"}


# The metrics the retrainer's gate can compare models on (driftline.retrainer.evaluation.gate.METRICS).
GATE_METRICS = ("accuracy", "f1", "log_loss", "mae", "rmse")


def _gate_metric(text: str) -> str:
    metric = text.lower()
    if metric not in GATE_METRICS:
        raise ValueError
    return metric


PROCESSING_GUARANTEES = ("at_least_once", "exactly_once")


def _guarantee(text: str) -> str:
    value = text.lower().replace("-", "_")
    if value not in PROCESSING_GUARANTEES:
        raise ValueError
    return value
def _secret_key(text: str) -> str:
    if len(text.encode("utf-8")) < 16:
        raise ValueError
    return text


def _mlflow_alias(text: str) -> str:
    # MLflow reserves "latest" and names like "v3" for version numbers.
    if (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) or text.lower() == "latest"
            or re.fullmatch(r"[vV]\d+", text)):
        raise ValueError
    return text


def _port_or_off(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError
    return value


def _http_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ValueError
    return text


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0.0 < value < float("inf"):
        raise ValueError
    return value


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError
    return text


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "kafka_bootstrap": (_bootstrap, "a list of host:port"),
    "topic_prefix": (str, "a string"),
    "partitions": (_positive_int, "an integer >= 1"),
    "home": (_nonempty, "a directory path"),
    "registry_url": (_nonempty, "an SQLAlchemy URL"),
    "artifact_dir": (_nonempty, "a directory path"),
    "max_message_bytes": (_positive_int, "an integer >= 1"),
    "batch_size": (_positive_int, "an integer >= 1"),
    "batch_within_s": (_non_negative_float, "a number of seconds >= 0"),
    "label_ttl_ms": (_positive_int, "an integer >= 1"),
    "max_pending": (_positive_int, "an integer >= 1"),
    "reference_size": (_positive_int, "an integer >= 1"),
    "false_alarm_rate": (_rate, "a rate of false alarms per event between 0 and 0.01, e.g. 1e-6"),
    "retrain_on": (_alert_kinds, "a comma-separated list of alert kinds (concept_drift, performance, "
                                 "data_drift, data_quality)"),
    "metrics_every": (_positive_int, "an integer >= 1"),
    "retrain_cooldown_ms": (_positive_int, "an integer >= 1"),
    "min_train_examples": (_positive_int, "an integer >= 1"),
    "max_train_examples": (_positive_int, "an integer >= 1"),
    "retrain_wait_s": (_non_negative_float, "a number of seconds >= 0"),
    "gate_margin": (_non_negative_float, "a number >= 0"),
    "gate_metric": (_gate_metric, f"one of {', '.join(GATE_METRICS)}"),
    "gate_confidence": (_fraction, "a confidence level between 0 and 1, e.g. 0.95"),
    "train_timeout_s": (_non_negative_float, "a number of seconds >= 0 (0: no limit)"),
    "retrain_max_attempts": (_positive_int, "an integer >= 1"),
    "require_registration": (_flag, "true or false"),
    "holdout_fraction": (_fraction, "a number between 0 and 1"),
    "refit": (_flag, "true or false"),
    "rollback_window": (_non_negative_int, "an integer >= 0 (0: no automatic rollback)"),
    "rollback_confidence": (_fraction, "a confidence level between 0 and 1, e.g. 0.999"),
    "shadow_events": (_non_negative_int, "an integer >= 0 (0: no shadow run)"),
    "log_level": (_log_level, "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    "processing_guarantee": (_guarantee, "at_least_once or exactly_once"),
    "commit_interval_ms": (_positive_int, "an integer >= 1 (milliseconds)"),
    "max_models": (_positive_int, "an integer >= 1"),
    "max_features": (_positive_int, "an integer >= 1"),
    "max_event_skew_ms": (_positive_int, "an integer >= 1 (milliseconds)"),
    "send_deadline_s": (_non_negative_float, "a number of seconds >= 0"),
    "worker_id": (_nonempty, "a name for this worker"),
    "artifact_key": (_secret_key, "a secret of at least 16 characters"),
    "artifact_key_file": (_nonempty, "the path of a file holding the artifact key"),
    "mlflow_tracking_uri": (_nonempty, "an MLflow tracking URI, e.g. http://127.0.0.1:5000"),
    "mlflow_model_prefix": (str, "a string"),
    "mlflow_alias": (_mlflow_alias, "an alias of letters, digits, '_' and '-', not starting with a digit"),
    "http_port": (_port_or_off, "a port number from 1 to 65535, or 0 for no HTTP endpoint"),
    "http_host": (_nonempty, "a host name or address to bind to, e.g. 127.0.0.1"),
    "metrics_max_models": (_positive_int, "an integer >= 1"),
    "notify_alertmanager_url": (_http_url, "an http(s) URL, e.g. http://127.0.0.1:9093"),
    "notify_webhook_url": (_http_url, "an http(s) URL"),
    "notify_webhook_secret": (_secret_key, "a secret of at least 16 characters"),
    "notify_webhook_secret_file": (_nonempty, "the path of a file holding the webhook secret"),
    "notify_slack_url": (_http_url, "a Slack incoming-webhook URL (https://hooks.slack.com/...)"),
    "notify_rate_per_minute": (_positive_float, "a number of deliveries per minute > 0"),
    "notify_give_up_s": (_non_negative_float, "a number of seconds >= 0"),
    "notify_timeout_s": (_positive_float, "a number of seconds > 0"),
    "notify_firing_ttl_s": (_positive_float, "a number of seconds > 0"),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Configuration shared by the monitor, the retrainer, the producers and the CLI."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "driftline."
    partitions: int = 3
    home: str = ".driftline"
    registry_url: str = ""  # empty: a SQLite file under ``home``
    artifact_dir: str = ""  # empty: ``home``/artifacts
    max_message_bytes: int = 1_000_000
    batch_size: int = 500
    batch_within_s: float = 0.5
    # Labels that have not arrived after this much event time are given up on.
    label_ttl_ms: int = 3_600_000
    max_pending: int = 200_000
    reference_size: int = 1000
    # Target false alarms per prediction event and model, over every feature and detector.
    false_alarm_rate: float = 1e-6
    # Alert kinds whose episodes ask for retraining; data drift alone only warns.
    retrain_on: tuple[str, ...] = ("concept_drift", "performance")
    metrics_every: int = 1000
    retrain_cooldown_ms: int = 600_000
    min_train_examples: int = 1000
    max_train_examples: int = 20_000
    retrain_wait_s: float = 300.0
    # What the gate compares challenger and champion on, and how sure it must be that
    # the challenger is better by the margin (driftline.retrainer.evaluation.gate). No margin by
    # default: a retrain runs only after a drift was found, and on the newest 30% of a
    # 1,000-label window a margin of 0.01 on top of the 95% bound asks for an observed
    # gain of about 4 points. It turned down 5 of the 23 retrains after SEA's drifts of
    # 3-6 points (benchmarks/loop.py, seeds 1-5), two of them 2.7 and 3 points better at
    # McNemar p < 0.02. A team that pays for each swap sets one.
    gate_margin: float = 0.0
    gate_metric: str = "accuracy"
    gate_confidence: float = 0.95
    # A trainer still running after this long is stopped and its version rejected; 0: no limit.
    train_timeout_s: float = 600.0
    # A retrain request that fails this often (database or broker down) goes to the dead-letter topic.
    retrain_max_attempts: int = 5
    # On: a retrain request for a model with neither a registration nor a version fails.
    require_registration: bool = False
    holdout_fraction: float = 0.3
    # On: a challenger the gate promotes is fit again on the whole window, holdout included,
    # before it is stored. Off, every version serves having learned from 70% of its window:
    # on SEA (benchmarks/loop.py) that left each of driftline's models about a point below
    # the same trainer's fit on all of the labels, drift or none.
    refit: bool = True
    # A promoted version is tested on its first rollback_window labeled events against
    # its gate score, and rolled back if worse at rollback_confidence; 0: never.
    rollback_window: int = 1000
    rollback_confidence: float = 0.999
    # A challenger that passes the gate is scored next to the champion on this many
    # live labeled events before it is promoted; 0: promoted at once.
    shadow_events: int = 0
    log_level: str = "WARNING"
    # at_least_once: outputs, then state, then offsets, each acknowledged before the next;
    # exactly_once: the three in one Kafka transaction (readers use read_committed).
    processing_guarantee: str = "at_least_once"
    # How often the monitor writes its outputs and state and commits (sooner after an alert).
    commit_interval_ms: int = 1000
    # Models one monitor worker watches; events of further models go to dead-letter.
    max_models: int = 5000
    # Features one prediction may carry; more: dead-letter.
    max_features: int = 1000
    # Event times further than this from the model's clock are dead-lettered.
    max_event_skew_ms: int = 86_400_000
    # A write the broker has not acknowledged after this long stops the worker (exit 1).
    send_deadline_s: float = 300.0
    # Names this worker's Kafka transactions (exactly_once); empty: host name and process id.
    worker_id: str = ""
    # The key every artifact is signed with and checked against before it is loaded; never
    # in the registry. Empty (and no key file named): a key file made in ``home``.
    artifact_key: str = dataclasses.field(default="", repr=False)
    artifact_key_file: str = ""
    # Set: every champion is mirrored into this MLflow registry under mlflow_alias.
    mlflow_tracking_uri: str = ""
    mlflow_model_prefix: str = ""
    mlflow_alias: str = "champion"
    # Set: the worker serves /metrics, /healthz and /readyz on this port; 0: no HTTP endpoint.
    http_port: int = 0
    http_host: str = "127.0.0.1"
    # Models with series of their own in /metrics; the others share model_id="_other".
    metrics_max_models: int = 100
    # Where `driftline notify` delivers alerts; each one left empty is not used.
    notify_alertmanager_url: str = ""
    notify_webhook_url: str = ""
    notify_webhook_secret: str = dataclasses.field(default="", repr=False)
    notify_webhook_secret_file: str = ""
    notify_slack_url: str = dataclasses.field(default="", repr=False)
    # Deliveries per minute to each receiver (a burst of up to a tenth of a minute's worth).
    notify_rate_per_minute: float = 60.0
    # A receiver that keeps failing (down, 5xx) is retried for this long before the alert
    # goes to dead-letter; one that refuses it (4xx) sends it there at once.
    notify_give_up_s: float = 3600.0
    notify_timeout_s: float = 10.0
    # A firing alert tells Alertmanager it lasts this long unless resolved or sent again;
    # the worker sends open episodes again well before.
    notify_firing_ttl_s: float = 3600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``), then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            parse, expected = _PARSERS[name]
            try:
                values[name] = parse(raw.strip())
            except (ValueError, TypeError):
                got = " (the value given is not shown)" if name in SECRETS else f", got {raw!r}"
                raise SettingsError(f"{var} must be {expected}{got}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser().resolve()

    @property
    def resolved_registry_url(self) -> str:
        if self.registry_url:
            return self.registry_url
        return f"sqlite:///{self.home_path / 'registry.db'}"

    @property
    def artifact_root(self) -> str:
        """Where artifacts go: an fsspec URL as given, or the local folder's path."""
        if "://" in self.artifact_dir:
            return self.artifact_dir
        return str(self.artifact_path)

    @property
    def artifact_path(self) -> Path:
        if self.artifact_dir:
            return Path(self.artifact_dir).expanduser().resolve()
        return self.home_path / "artifacts"
