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

A bootstrap address may name its security protocol, as Kafka's listeners do;
secrets never show, neither in the settings nor in a database URL:

>>> s = Settings.from_env({"DRIFTLINE_KAFKA_BOOTSTRAP": "SASL_SSL://b1:9096,SASL_SSL://b2:9096",
...                        "DRIFTLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
...                        "DRIFTLINE_KAFKA_SASL_USERNAME": "svc",
...                        "DRIFTLINE_KAFKA_SASL_PASSWORD": "hunter2",
...                        "DRIFTLINE_REGISTRY_URL": "sqlite:///:memory:?password=x"})
>>> s.kafka_bootstrap, s.kafka_security_protocol, s.kafka_sasl_password
('b1:9096,b2:9096', 'SASL_SSL', Secret('***'))
>>> "hunter2" in repr(s), s.shown_registry_url
(False, 'sqlite:///:memory:?password=***')
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from driftline.contract import ALERT_KINDS
from driftline.exceptions import SettingsError
from driftline.redact import MASK, Secret, mask_url, url_password

log = logging.getLogger(__name__)

# field name -> environment variable; the single place these names are spelled.
ENV: dict[str, str] = {
    "kafka_bootstrap": "DRIFTLINE_KAFKA_BOOTSTRAP",
    "kafka_security_protocol": "DRIFTLINE_KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "DRIFTLINE_KAFKA_SASL_MECHANISM",
    "kafka_sasl_username": "DRIFTLINE_KAFKA_SASL_USERNAME",
    "kafka_sasl_password": "DRIFTLINE_KAFKA_SASL_PASSWORD",
    "kafka_sasl_oauth_token_provider": "DRIFTLINE_KAFKA_SASL_OAUTH_TOKEN_PROVIDER",
    "kafka_ssl_cafile": "DRIFTLINE_KAFKA_SSL_CAFILE",
    "kafka_ssl_certfile": "DRIFTLINE_KAFKA_SSL_CERTFILE",
    "kafka_ssl_keyfile": "DRIFTLINE_KAFKA_SSL_KEYFILE",
    "kafka_ssl_key_password": "DRIFTLINE_KAFKA_SSL_KEY_PASSWORD",
    "kafka_ssl_check_hostname": "DRIFTLINE_KAFKA_SSL_CHECK_HOSTNAME",
    "topic_prefix": "DRIFTLINE_TOPIC_PREFIX",
    "partitions": "DRIFTLINE_PARTITIONS",
    "replication_factor": "DRIFTLINE_REPLICATION_FACTOR",
    "min_insync_replicas": "DRIFTLINE_MIN_INSYNC_REPLICAS",
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
    "detectors": "DRIFTLINE_DETECTORS",
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
    "http_port": "DRIFTLINE_HTTP_PORT",
    "http_host": "DRIFTLINE_HTTP_HOST",
    "metrics_max_models": "DRIFTLINE_METRICS_MAX_MODELS",
    "notify_alertmanager_url": "DRIFTLINE_NOTIFY_ALERTMANAGER_URL",
    "notify_webhook_url": "DRIFTLINE_NOTIFY_WEBHOOK_URL",
    "notify_webhook_secret": "DRIFTLINE_NOTIFY_WEBHOOK_SECRET",
    "notify_slack_url": "DRIFTLINE_NOTIFY_SLACK_URL",
    "notify_rate_per_minute": "DRIFTLINE_NOTIFY_RATE_PER_MINUTE",
    "notify_give_up_s": "DRIFTLINE_NOTIFY_GIVE_UP_S",
    "notify_timeout_s": "DRIFTLINE_NOTIFY_TIMEOUT_S",
    "notify_firing_ttl_s": "DRIFTLINE_NOTIFY_FIRING_TTL_S",
    "ui_host": "DRIFTLINE_UI_HOST",
    "ui_port": "DRIFTLINE_UI_PORT",
    "ui_token": "DRIFTLINE_UI_TOKEN",
    "ui_max_points": "DRIFTLINE_UI_MAX_POINTS",
}

# Settings that may also be read from a file, for secrets mounted as files (Docker,
# Kubernetes): the variable's name plus this suffix names the file.
FILE_SUFFIX = "_FILE"
FROM_FILE = ("kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_key_password", "registry_url",
             "notify_webhook_secret", "notify_slack_url", "ui_token")
# Fields that hold a secret as a Secret.
SECRET_FIELDS = ("kafka_sasl_password", "kafka_ssl_key_password", "notify_webhook_secret", "notify_slack_url",
                 "ui_token")
# DRIFTLINE_* names that are not settings: the test suite's and the benchmarks' own.
NOT_SETTINGS = ("DRIFTLINE_TEST_", "DRIFTLINE_BENCH_")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


# Fields whose values are never shown: not in errors, not in repr.
SECRETS = frozenset({"artifact_key", *SECRET_FIELDS})


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


def split_bootstrap(text: str) -> tuple[str, str]:
    """``(host:port,..., protocol)`` of a bootstrap list whose servers may name a protocol.

    >>> split_bootstrap("SSL://a:9093, SSL://b:9093"), split_bootstrap("a:1")
    (('a:9093,b:9093', 'SSL'), ('a:1', ''))
    """
    servers, protocols = [], set()
    for server in text.split(","):
        scheme, sep, address = server.strip().rpartition("://")
        if sep:
            scheme = scheme.upper()
            if scheme != "KAFKA":  # faust's spelling of a plain address
                if scheme not in SECURITY_PROTOCOLS:
                    raise ValueError
                protocols.add(scheme)
        host, sep, port = address.rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError
        servers.append(address)
    if len(protocols) > 1:
        raise ValueError
    return ",".join(servers), protocols.pop() if protocols else ""


def _bootstrap(text: str) -> str:
    split_bootstrap(text)
    return text


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.upper()
        if value not in options:
            raise ValueError
        return value

    return parse


def _existing_file(text: str) -> str:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError
    return str(path)


def _import_spec(text: str) -> str:
    module, sep, attr = text.partition(":")
    if not (sep and module.strip() and attr.strip()):
        raise ValueError
    return text


def _registry_url(text: str) -> str:
    """An SQLAlchemy URL whose dialect and driver import here."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    var = ENV["registry_url"]
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError from None
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise SettingsError(f"{var}: SQLAlchemy has no database dialect {url.drivername!r} "
                            f"(in {mask_url(text)!r}); e.g. postgresql+psycopg, mysql+pymysql, "
                            "sqlite") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise SettingsError(
            f"{var}: the {url.get_backend_name()} driver {url.get_driver_name()!r} is not installed "
            f"({exc}); install it, or name one that is, e.g. {url.get_backend_name()}+<driver>://... "
            "(driftline[postgres] installs psycopg for postgresql+psycopg)") from None
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


def _detectors(text: str) -> str:
    from driftline.detectors.entries import parse_detectors

    try:
        parse_detectors(text)
    except ValueError as e:
        raise SettingsError(f"{ENV['detectors']}: {e}") from None
    return text


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
    "kafka_bootstrap": (_bootstrap, "a list of host:port, each with the same optional protocol "
                                    "(SASL_SSL://host:9092)"),
    "kafka_security_protocol": (_choice(SECURITY_PROTOCOLS), f"one of {', '.join(SECURITY_PROTOCOLS)}"),
    "kafka_sasl_mechanism": (_choice(SASL_MECHANISMS), f"one of {', '.join(SASL_MECHANISMS)}"),
    "kafka_sasl_username": (_nonempty, "a user name"),
    "kafka_sasl_password": (Secret, "a password"),
    "kafka_sasl_oauth_token_provider": (_import_spec, "package.module:function, a function that "
                                                      "returns a token"),
    "kafka_ssl_cafile": (_existing_file, "the path of a PEM file that exists"),
    "kafka_ssl_certfile": (_existing_file, "the path of a PEM file that exists"),
    "kafka_ssl_keyfile": (_existing_file, "the path of a PEM file that exists"),
    "kafka_ssl_key_password": (Secret, "a password"),
    "kafka_ssl_check_hostname": (_flag, "true or false"),
    "topic_prefix": (str, "a string"),
    "partitions": (_positive_int, "an integer >= 1"),
    "replication_factor": (_non_negative_int, "an integer >= 1 (0: min(3, brokers in the cluster))"),
    "min_insync_replicas": (_non_negative_int, "an integer >= 1 (0: min(2, the replication factor))"),
    "home": (_nonempty, "a directory path"),
    "registry_url": (_registry_url, "an SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host/db "
                                    "or sqlite:///path/registry.db"),
    "artifact_dir": (_nonempty, "a directory path"),
    "max_message_bytes": (_positive_int, "an integer >= 1"),
    "batch_size": (_positive_int, "an integer >= 1"),
    "batch_within_s": (_non_negative_float, "a number of seconds >= 0"),
    "label_ttl_ms": (_positive_int, "an integer >= 1"),
    "max_pending": (_positive_int, "an integer >= 1"),
    "reference_size": (_positive_int, "an integer >= 1"),
    "false_alarm_rate": (_rate, "a rate of false alarms per event between 0 and 0.01, e.g. 1e-6"),
    "detectors": (_detectors, "comma-separated changes to the default detectors: -name leaves one "
                              "out, name=share sets its share of the budget (e.g. -mmd,hddm_w=0.2)"),
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
    "http_port": (_port_or_off, "a port number from 1 to 65535, or 0 for no HTTP endpoint"),
    "http_host": (_nonempty, "a host name or address to bind to, e.g. 127.0.0.1"),
    "metrics_max_models": (_positive_int, "an integer >= 1"),
    "notify_alertmanager_url": (_http_url, "an http(s) URL, e.g. http://127.0.0.1:9093"),
    "notify_webhook_url": (_http_url, "an http(s) URL"),
    "notify_webhook_secret": (_secret_key, "a secret of at least 16 characters"),
    "notify_slack_url": (_http_url, "a Slack incoming-webhook URL (https://hooks.slack.com/...)"),
    "notify_rate_per_minute": (_positive_float, "a number of deliveries per minute > 0"),
    "notify_give_up_s": (_non_negative_float, "a number of seconds >= 0"),
    "notify_timeout_s": (_positive_float, "a number of seconds > 0"),
    "notify_firing_ttl_s": (_positive_float, "a number of seconds > 0"),
    "ui_host": (_nonempty, "a host name or address to bind to, e.g. 127.0.0.1"),
    "ui_port": (_port_or_off, "a port number from 1 to 65535, or 0 for any free port"),
    "ui_token": (_secret_key, "a secret of at least 16 characters"),
    "ui_max_points": (_positive_int, "an integer >= 1"),
}


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """Configuration shared by the monitor, the retrainer, the producers and the CLI.

    Built directly, it checks the Kafka security settings together as
    :meth:`from_env` does, and passwords given as ``str`` become :class:`Secret`.
    """

    # host:port,...; a protocol prefix (SASL_SSL://) is moved to kafka_security_protocol.
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Empty: the bootstrap's prefix, else PLAINTEXT (resolved at construction).
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: Secret = Secret()
    # "package.module:function": called with no arguments whenever a client needs an
    # OAUTHBEARER token, returns the token (a str); it may cache and refresh it.
    kafka_sasl_oauth_token_provider: str = ""
    kafka_ssl_cafile: str = ""  # empty: the system's CA certificates
    kafka_ssl_certfile: str = ""  # a client certificate, for brokers that ask for one
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: Secret = Secret()
    kafka_ssl_check_hostname: bool = True
    topic_prefix: str = "driftline."
    partitions: int = 3
    # Topics driftline creates; 0: min(3, brokers in the cluster), and min(2, replicas).
    replication_factor: int = 0
    min_insync_replicas: int = 0
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
    # Changes to the default detectors and their shares of that target
    # (driftline.detectors.entries.parse_detectors); empty: the default suite.
    detectors: str = ""
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
    # Set: the worker serves /metrics, /healthz and /readyz on this port; 0: no HTTP endpoint.
    http_port: int = 0
    http_host: str = "127.0.0.1"
    # Models with series of their own in /metrics; the others share model_id="_other".
    metrics_max_models: int = 100
    # Where `driftline notify` delivers alerts; each one left empty is not used.
    notify_alertmanager_url: str = ""
    notify_webhook_url: str = ""
    notify_webhook_secret: Secret = Secret()
    notify_slack_url: Secret = Secret()
    # Deliveries per minute to each receiver (a burst of up to a tenth of a minute's worth).
    notify_rate_per_minute: float = 60.0
    # A receiver that keeps failing (down, 5xx) is retried for this long before the alert
    # goes to dead-letter; one that refuses it (4xx) sends it there at once.
    notify_give_up_s: float = 3600.0
    notify_timeout_s: float = 10.0
    # A firing alert tells Alertmanager it lasts this long unless resolved or sent again;
    # the worker sends open episodes again well before.
    notify_firing_ttl_s: float = 3600.0
    # `driftline ui`: where the dashboard listens; beyond loopback it needs the token, which
    # every request then carries (Authorization: Bearer, or ?token=).
    ui_host: str = "127.0.0.1"
    ui_port: int = 8765
    ui_token: Secret = Secret()
    # Metrics points the dashboard keeps per model (and per drift detector and feature).
    ui_max_points: int = 2000

    def __post_init__(self) -> None:
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, Secret):
                object.__setattr__(self, name, Secret("" if value is None else value))
        try:
            servers, scheme = split_bootstrap(self.kafka_bootstrap)
        except ValueError:
            raise SettingsError(f"{ENV['kafka_bootstrap']} must be {_PARSERS['kafka_bootstrap'][1]}, "
                                f"got {self.kafka_bootstrap!r}") from None
        protocol = self.kafka_security_protocol.upper()
        if scheme and protocol and scheme != protocol:
            raise SettingsError(f"{ENV['kafka_bootstrap']} names {scheme} but "
                                f"{ENV['kafka_security_protocol']} is {protocol}; set one of them")
        object.__setattr__(self, "kafka_bootstrap", servers)
        object.__setattr__(self, "kafka_security_protocol", protocol or scheme or "PLAINTEXT")
        object.__setattr__(self, "kafka_sasl_mechanism", self.kafka_sasl_mechanism.upper())
        _check_security(self)
        if self.detectors:
            from driftline.detectors.entries import check_detectors

            try:
                check_detectors(self.detector_spec or {}, self.false_alarm_rate)
            except ValueError as e:
                raise SettingsError(f"{ENV['detectors']}: {e}") from None
        if self.replication_factor and self.min_insync_replicas > self.replication_factor:
            raise SettingsError(f"{ENV['min_insync_replicas']} ({self.min_insync_replicas}) is above "
                                f"{ENV['replication_factor']} ({self.replication_factor}): no write "
                                "could ever be acknowledged")

    def __repr__(self) -> str:
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "registry_url":
                value = mask_url(value)
            elif field.name in SECRETS and isinstance(value, str) and value:
                value = MASK
            shown.append(f"{field.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 warn: Callable[[str], Any] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``), then ``overrides``.

        A ``DRIFTLINE_*`` name that is no setting is reported through ``warn``
        (default: a warning log record), with the closest setting's name.
        """
        environ = os.environ if environ is None else environ
        for message in unknown_variables(environ):
            (warn or log.warning)(message)
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            raw = _raw_value(environ, name, var)
            if raw is None:
                continue
            parse, expected = _PARSERS[name]
            try:
                values[name] = parse(raw.strip())
            except SettingsError:  # the parser's own line, more precise than "must be"
                raise
            except (ValueError, TypeError):
                shown = mask_url(raw) if name == "registry_url" else raw
                got = " (the value given is not shown)" if name in SECRETS else f", got {shown!r}"
                raise SettingsError(f"{var} must be {expected}{got}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def detector_spec(self) -> dict[str, float | None] | None:
        """The suite's entries and shares ``detectors`` describes; None for the default."""
        if not self.detectors:
            return None
        from driftline.detectors.entries import parse_detectors

        try:
            return parse_detectors(self.detectors)
        except ValueError as e:
            raise SettingsError(f"{ENV['detectors']}: {e}") from None

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
    def shown_registry_url(self) -> str:
        """The registry's URL as it may be printed: its password is ``***``."""
        return mask_url(self.resolved_registry_url)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for :func:`driftline.redact.redact_logs`."""
        found = [getattr(self, name).reveal() for name in SECRET_FIELDS]
        found += [url_password(self.registry_url), self.artifact_key]
        return [s for s in found if s]

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


def _raw_value(environ: Mapping[str, str], name: str, var: str) -> str | None:
    """The variable's text, or its file's when the setting may come from a file."""
    raw = environ.get(var) or None
    file_var = var + FILE_SUFFIX
    path = environ.get(file_var) if name in FROM_FILE else None
    if not path:
        return raw
    if raw is not None:
        raise SettingsError(f"both {var} and {file_var} are set; set one of them")
    return read_setting_file(path, file_var)


def read_setting_file(path: str, file_var: str) -> str:
    """The text of a ``*_FILE`` setting's file, without the newline that ends it."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{file_var}: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
    # One trailing newline is how editors and `echo` end a file, not part of the secret.
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise SettingsError(f"{file_var}: {path} is empty")
    return text


def known_variables() -> set[str]:
    """Every environment variable driftline reads for its settings."""
    return set(ENV.values()) | {ENV[name] + FILE_SUFFIX for name in FROM_FILE}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per ``DRIFTLINE_*`` name in ``environ`` that is no setting.

    >>> unknown_variables({"DRIFTLINE_BOOTSTRAP": "h:1", "DRIFTLINE_PARTITIONS": "3", "PATH": "/bin"})
    ['DRIFTLINE_BOOTSTRAP is not a driftline setting and is ignored; did you mean DRIFTLINE_KAFKA_BOOTSTRAP?']
    """
    known = known_variables()
    messages = []
    for var in sorted(environ):
        if not var.startswith("DRIFTLINE_") or var in known or var.startswith(NOT_SETTINGS):
            continue
        close = _closest(var, known)
        hint = f"; did you mean {close}?" if close else f" (see {ENV['log_level']} and the others in the README)"
        messages.append(f"{var} is not a driftline setting and is ignored{hint}")
    return messages


def _closest(var: str, known: set[str]) -> str | None:
    found = difflib.get_close_matches(var, known, n=1, cutoff=0.6)
    if found:
        return found[0]
    # A name missing a middle part (DRIFTLINE_BOOTSTRAP for DRIFTLINE_KAFKA_BOOTSTRAP).
    tail = var.removeprefix("DRIFTLINE_")
    ends = sorted(k for k in known if k.endswith("_" + tail))
    return ends[0] if len(ends) == 1 else None


def _check_security(s: Settings) -> None:
    """The Kafka security settings, checked together; one line naming the variables."""
    protocol, mechanism = s.kafka_security_protocol, s.kafka_sasl_mechanism
    var = ENV["kafka_security_protocol"]
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(f"{var} must be one of {', '.join(SECURITY_PROTOCOLS)}, got {protocol!r}")
    sasl_given = [ENV[n] for n in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password",
                                   "kafka_sasl_oauth_token_provider") if getattr(s, n)]
    if not protocol.startswith("SASL_"):
        if sasl_given:
            raise SettingsError(f"{', '.join(sasl_given)} {'is' if len(sasl_given) == 1 else 'are'} set but "
                                f"{var} is {protocol}; SASL needs SASL_SSL or SASL_PLAINTEXT")
    elif mechanism not in SASL_MECHANISMS:
        raise SettingsError(f"{var} is {protocol}: set {ENV['kafka_sasl_mechanism']} to one of "
                            f"{', '.join(SASL_MECHANISMS)}" + (f" (got {mechanism!r})" if mechanism else ""))
    elif mechanism == "OAUTHBEARER":
        if not s.kafka_sasl_oauth_token_provider:
            raise SettingsError(f"SASL OAUTHBEARER needs {ENV['kafka_sasl_oauth_token_provider']} "
                                "(package.module:function returning a token)")
    elif not (s.kafka_sasl_username and s.kafka_sasl_password):
        missing = [ENV[n] for n in ("kafka_sasl_username", "kafka_sasl_password") if not getattr(s, n)]
        raise SettingsError(f"SASL {mechanism} needs {' and '.join(missing)} "
                            f"(or {missing[-1]}{FILE_SUFFIX})")
    tls_given = [ENV[n] for n in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile",
                                  "kafka_ssl_key_password") if getattr(s, n)]
    if tls_given and protocol not in ("SSL", "SASL_SSL"):
        raise SettingsError(f"{', '.join(tls_given)} {'is' if len(tls_given) == 1 else 'are'} set but "
                            f"{var} is {protocol}; TLS needs SSL or SASL_SSL")
    if s.kafka_ssl_keyfile and not s.kafka_ssl_certfile:
        raise SettingsError(f"{ENV['kafka_ssl_keyfile']} is set without {ENV['kafka_ssl_certfile']}, "
                            "the client certificate it belongs to")
    if s.kafka_ssl_key_password and not s.kafka_ssl_certfile:
        raise SettingsError(f"{ENV['kafka_ssl_key_password']} is set without a client certificate "
                            f"({ENV['kafka_ssl_certfile']})")
    if s.kafka_sasl_oauth_token_provider and mechanism != "OAUTHBEARER":
        raise SettingsError(f"{ENV['kafka_sasl_oauth_token_provider']} is set but "
                            f"{ENV['kafka_sasl_mechanism']} is {mechanism}, not OAUTHBEARER")
