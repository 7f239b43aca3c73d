"""The metric families a driftline worker exposes, fed by what the worker publishes.

The worker calls one method per thing it produces (a metrics snapshot, an
alert, a dead letter, a retrain outcome); the exporter keeps plain values and
turns them into Prometheus families at each scrape. Every family is labelled
by ``model_id``, and at most ``max_models`` models get a label of their own:
the others share ``model_id="_other"`` (counters add up there, gauges show the
last model written) and ``driftline_metrics_folded_models`` counts them.

>>> from driftline.contract import Metrics
>>> ex = MetricsExporter(max_models=10)
>>> ex.observe_metrics(Metrics(model_id="fraud", model_version="3", ts=1, event_ts=1,
...     n_predictions=1200, n_labeled=900, n_expired=0, n_invalid=2, accuracy=0.91,
...     label_coverage=0.75, features={}))
>>> ex.set_drift("fraud", "ks", "amount", statistic=0.12, threshold=0.2)
>>> text = ex.render().decode()
>>> print([l for l in text.splitlines() if l.startswith("driftline_accuracy{")][0])
driftline_accuracy{model_id="fraud"} 0.91
>>> print([l for l in text.splitlines() if l.startswith("driftline_drift_threshold{")][0])
driftline_drift_threshold{detector="ks",feature="amount",model_id="fraud"} 0.2
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftline.observe.counting import Cumulative, ModelLabels
from driftline.observe.reasons import reason_class

# Retrain outcomes past this many distinct values are counted as "other".
MAX_OUTCOMES = 16
# A feature's name and a detector's are kept to this many characters in a label.
MAX_LABEL_CHARS = 128


class MetricsExporter:
    """Plain values for the driftline_* families, safe to feed from one thread and scrape from another.

    Parameters
    ----------
    max_models
        Models with a ``model_id`` label of their own (``DRIFTLINE_METRICS_MAX_MODELS``).
    registry
        Where the families are registered; a new one by default. ``process_collectors``
        adds the process's CPU, memory and file descriptors to it.
    """

    def __init__(self, max_models: int = 100, registry: CollectorRegistry | None = None,
                 process_collectors: bool = False) -> None:
        self.models = ModelLabels(max_models)
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._predictions: dict[str, Cumulative] = defaultdict(Cumulative)  # by real model_id
        self._labels: dict[str, Cumulative] = defaultdict(Cumulative)
        self._model_label: dict[str, str] = {}
        self._gauges: dict[str, dict[tuple, float]] = defaultdict(dict)
        self._dead: dict[str, int] = defaultdict(int)
        self._alerts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._episodes: dict[str, set[str]] = defaultdict(set)  # label -> open episode ids
        self._lag: dict[tuple[str, str], int] = {}
        self._retrains: dict[tuple[str, str], int] = defaultdict(int)
        self._serving: dict[str, str] = {}
        self._notifications: dict[tuple[str, str], int] = defaultdict(int)
        self.registry.register(_Collector(self))
        if process_collectors:
            from prometheus_client.process_collector import ProcessCollector

            ProcessCollector(registry=self.registry)

    def _label(self, model_id: str) -> str:
        label = self._model_label.get(model_id)
        if label is None:
            label = self._model_label[model_id] = self.models.label(model_id)
        return label

    # ------------------------------------------------------------ the monitor

    def observe_metrics(self, metrics: Any) -> None:
        """One metrics snapshot as published on the metrics topic (a ``Metrics`` or its dict).

        Sets the counts, accuracy, label coverage and the per-feature figures;
        drift statistics come with it when the snapshot carries ``drift``, a list of
        ``{"detector", "feature", "statistic", "threshold"}`` (else by :meth:`set_drift`).
        """
        m = metrics if isinstance(metrics, Mapping) else metrics.to_dict()
        model_id = str(m["model_id"])
        with self._lock:
            label = self._label(model_id)
            self._predictions[model_id].report(int(m.get("n_predictions") or 0))
            self._labels[model_id].report(int(m.get("n_labeled") or 0))
            for name, key in (("accuracy", "accuracy"), ("label_coverage", "label_coverage")):
                self._set_or_clear(name, (label,), m.get(key))
            for feature, figures in (m.get("features") or {}).items():
                if not isinstance(figures, Mapping):
                    continue
                key = (label, _short(feature))
                for name, field in (("feature_mean", "mean"), ("feature_std", "std"),
                                    ("feature_missing_ratio", "missing_rate")):
                    self._set_or_clear(name, key, figures.get(field))
        for d in m.get("drift") or ():
            self.set_drift(model_id, d["detector"], d.get("feature"), d["statistic"], d["threshold"])

    def set_drift(self, model_id: str, detector: str, feature: str | None,
                  statistic: float, threshold: float) -> None:
        """A detector's current statistic and the threshold it is compared with."""
        with self._lock:
            key = (self._label(model_id), _short(detector), _short(feature or ""))
            self._set_or_clear("drift_statistic", key, statistic)
            self._set_or_clear("drift_threshold", key, threshold)

    def observe_events(self, model_id: str, predictions: int = 0, labels: int = 0) -> None:
        """Events counted as they are processed, between two snapshots."""
        with self._lock:
            self._label(model_id)
            self._predictions[model_id].add(predictions)
            self._labels[model_id].add(labels)

    def observe_alert(self, alert: Any) -> None:
        """One alert as published (an ``Alert`` or its dict): counted when firing; opens or
        closes its episode."""
        a = alert if isinstance(alert, Mapping) else alert.to_dict()
        status = a.get("status") or "firing"
        with self._lock:
            label = self._label(str(a["model_id"]))
            episode = a.get("episode_id")
            if status == "firing":
                self._alerts[(label, str(a["kind"]), str(a["severity"]))] += 1
                if episode:
                    self._episodes[label].add(episode)
            elif episode:
                self._episodes[label].discard(episode)

    def observe_dead_letter(self, reason: str) -> None:
        with self._lock:
            self._dead[reason_class(reason)] += 1

    def set_lag(self, partition: int, lag: int, topic: str = "") -> None:
        """Records behind the end of one input partition."""
        with self._lock:
            self._lag[(topic, str(partition))] = max(int(lag), 0)

    def forget_lag(self, partition: int, topic: str = "") -> None:
        """A partition revoked from this worker is no longer its lag to report."""
        with self._lock:
            self._lag.pop((topic, str(partition)), None)

    def set_state_bytes(self, model_id: str, n: int) -> None:
        with self._lock:
            self._gauges["state_bytes"][(self._label(model_id),)] = float(n)

    # ------------------------------------------------------------ the retrainer

    def observe_retrain(self, outcome: str, model_id: str | None = None) -> None:
        """One finished retrain request: ``promoted``, ``rejected``, ``failed``, ``rolled_back``..."""
        with self._lock:
            outcomes = {o for _, o in self._retrains}
            if outcome not in outcomes and len(outcomes) >= MAX_OUTCOMES:
                outcome = "other"
            label = "" if model_id is None else self._label(model_id)
            self._retrains[(label, _short(outcome))] += 1

    def set_serving(self, model_id: str, version: str) -> None:
        """The version now serving a model (the champion announced on model-versions)."""
        with self._lock:
            self._serving[self._label(model_id)] = _short(version)

    # ------------------------------------------------------------ driftline notify

    def observe_notification(self, receiver: str, result: str) -> None:
        """One alert done for a receiver: ``delivered``, ``duplicate`` or ``dead_letter``."""
        with self._lock:
            self._notifications[(_short(receiver), _short(result))] += 1

    # ------------------------------------------------------------ output

    def render(self) -> bytes:
        """The exposition text, as ``/metrics`` serves it."""
        return generate_latest(self.registry)

    def _set_or_clear(self, name: str, key: tuple, value: Any) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            self._gauges[name].pop(key, None)
        else:
            self._gauges[name][key] = float(value)

    def _families(self) -> Iterator[Metric]:
        with self._lock:
            yield from self._counts()
            yield from self._gauge_families()
            yield from self._event_families()

    def _counts(self) -> Iterator[Metric]:
        for name, source, doc in (
                ("driftline_predictions", self._predictions, "Prediction events the monitor has taken in."),
                ("driftline_labels", self._labels, "Predictions joined with their label.")):
            family = CounterMetricFamily(name, doc, labels=["model_id"])
            for label, value in _sum_by_label(source, self._model_label):
                family.add_metric([label], value)
            yield family

    def _gauge_families(self) -> Iterator[Metric]:
        g = self._gauges
        specs = (
            ("accuracy", ["model_id"], "Rolling accuracy of the labeled predictions (a regressor's: its "
                                       "score as the metrics topic reports it)."),
            ("label_coverage", ["model_id"], "Share of settled predictions that got a label."),
            ("feature_mean", ["model_id", "feature"], "Mean of a numeric feature over the last metrics interval."),
            ("feature_std", ["model_id", "feature"], "Standard deviation of a numeric feature over the "
                                                     "last metrics interval."),
            ("feature_missing_ratio", ["model_id", "feature"], "Share of predictions missing a feature over "
                                                               "the last metrics interval."),
            ("drift_statistic", ["model_id", "detector", "feature"], "A drift detector's statistic."),
            ("drift_threshold", ["model_id", "detector", "feature"], "The threshold a drift detector's "
                                                                     "statistic is compared with."),
            ("state_bytes", ["model_id"], "Bytes of monitor state written for a model."),
        )
        for name, labels, doc in specs:
            family = GaugeMetricFamily(f"driftline_{name}", doc, labels=labels)
            for key, value in sorted(g[name].items()):
                family.add_metric(list(key), value)
            yield family
        family = GaugeMetricFamily("driftline_serving_version_info",
                                   "The model version serving, as a label (value 1).",
                                   labels=["model_id", "version"])
        for label, version in sorted(self._serving.items()):
            family.add_metric([label, version], 1.0)
        yield family
        yield GaugeMetricFamily("driftline_metrics_folded_models",
                                "Models whose series are folded into model_id=\"_other\" "
                                "(past DRIFTLINE_METRICS_MAX_MODELS).", value=self.models.folded)

    def _event_families(self) -> Iterator[Metric]:
        family = CounterMetricFamily("driftline_alerts", "Alerts fired (episodes opened or escalated).",
                                     labels=["model_id", "kind", "severity"])
        for key, n in sorted(self._alerts.items()):
            family.add_metric(list(key), n)
        yield family
        family = GaugeMetricFamily("driftline_open_episodes",
                                   "Alert episodes fired and not yet resolved.", labels=["model_id"])
        for label, open_ in sorted(self._episodes.items()):
            family.add_metric([label], len(open_))
        yield family
        family = CounterMetricFamily("driftline_dead_letters", "Messages sent to the dead-letter topic.",
                                     labels=["reason"])
        for reason, n in sorted(self._dead.items()):
            family.add_metric([reason], n)
        yield family
        family = GaugeMetricFamily("driftline_consumer_lag", "Records behind the end of an input partition.",
                                   labels=["topic", "partition"])
        for key, n in sorted(self._lag.items()):
            family.add_metric(list(key), n)
        yield family
        family = CounterMetricFamily("driftline_notifications", "Alerts done by driftline notify, by "
                                     "receiver and result.", labels=["receiver", "result"])
        for key, n in sorted(self._notifications.items()):
            family.add_metric(list(key), n)
        yield family
        family = CounterMetricFamily("driftline_retrains", "Retrain requests finished, by outcome.",
                                     labels=["model_id", "outcome"])
        for key, n in sorted(self._retrains.items()):
            family.add_metric(list(key), n)
        yield family


class _Collector(Collector):
    def __init__(self, exporter: MetricsExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[Metric]:
        return list(self.exporter._families())


def _sum_by_label(source: dict[str, Cumulative], labels: dict[str, str]) -> list[tuple[str, int]]:
    out: dict[str, int] = defaultdict(int)
    for model_id, count in source.items():
        out[labels[model_id]] += count.value
    return sorted(out.items())


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS - 1] + "…"
