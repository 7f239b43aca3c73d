"""What the dashboard draws, built from the records of the metrics, alerts and model-versions topics.

Pure: records in (as decoded JSON objects), plain dicts out; no Kafka, no clocks.
Every list is bounded, so a long-running dashboard over a busy log keeps its
memory: per model the newest ``max_points`` metrics points (and as many per drift
detector and feature), and the newest ``max_alerts`` alerts overall.

The x axis of every series is event time (``event_ts``, epoch ms), which
metrics and alerts share; a version change is marked where the first metrics
record of the new version appears.

>>> s = Series(max_points=3)
>>> for i, version in enumerate(["1", "1", "2", "2"]):
...     s.add_metrics({"model_id": "fraud", "model_version": version, "ts": 10 + i,
...                    "event_ts": 100 * i, "n_predictions": 1000 * (i + 1), "accuracy": (9 - i) / 10,
...                    "label_coverage": 0.8, "drift": [{"detector": "ks", "feature": "amount",
...                                                      "statistic": i / 10, "threshold": 0.2}]})
>>> got = s.series("fraud")
>>> [p["accuracy"] for p in got["points"]]  # the newest three
[0.8, 0.7, 0.6]
>>> got["version_changes"]
[{'event_ts': 200, 'version': '2', 'from_version': '1'}]
>>> d = got["drift"][0]
>>> d["detector"], d["feature"], [p[1] for p in d["points"]], d["points"][-1][2]
('ks', 'amount', [0.1, 0.2, 0.3], 0.2)
>>> s.add_alert({"alert_id": "a1", "model_id": "fraud", "kind": "concept_drift", "event_ts": 150})
>>> [a["alert_id"] for a in s.alerts("fraud")], s.alerts("other")
(['a1'], [])
>>> s.add_version({"model_id": "fraud", "version": "2", "status": "champion", "ts": 5})
>>> s.models()[0]["model_id"], s.models()[0]["announced_version"], s.models()[0]["reported_version"]
('fraud', '2', '2')
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

# What a point of the main series keeps of a metrics record.
_POINT_FIELDS = ("ts", "event_ts", "model_version", "n_predictions", "n_labeled", "accuracy",
                 "label_coverage")


def _number(value: Any) -> float | None:
    """A finite number, or None (booleans and text are no figures)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _Model:
    """One model's bounded series."""

    def __init__(self, max_points: int, max_drift_series: int) -> None:
        self.points: deque[dict] = deque(maxlen=max_points)
        self.drift: dict[tuple[str, str | None], deque] = {}
        self.version_changes: deque[dict] = deque(maxlen=max_points)
        self.max_points = max_points
        self.max_drift_series = max_drift_series
        self.last_version: str | None = None
        self.announced: dict | None = None  # the newest champion on model-versions
        self.announcements: deque[dict] = deque(maxlen=max_points)
        self.n_alerts = 0


class Series:
    """Metrics, alerts and version announcements, kept as chartable series per model.

    Parameters
    ----------
    max_points
        Metrics points kept per model (and per drift detector and feature).
    max_alerts
        Alerts kept, over all models.
    max_models
        Models kept; records of further models are counted in :attr:`n_dropped`.
    max_drift_series
        (detector, feature) series kept per model.
    """

    def __init__(self, max_points: int = 2000, max_alerts: int = 1000, max_models: int = 100,
                 max_drift_series: int = 200) -> None:
        self.max_points = max_points
        self.max_models = max_models
        self.max_drift_series = max_drift_series
        self._models: dict[str, _Model] = {}
        self._alerts: deque[dict] = deque(maxlen=max_alerts)
        self.n_dropped = 0

    def _model(self, model_id: Any) -> _Model | None:
        if not isinstance(model_id, str) or not model_id:
            self.n_dropped += 1
            return None
        model = self._models.get(model_id)
        if model is None:
            if len(self._models) >= self.max_models:
                self.n_dropped += 1
                return None
            model = self._models[model_id] = _Model(self.max_points, self.max_drift_series)
        return model

    # ------------------------------------------------------------ input

    def add_metrics(self, m: Mapping[str, Any]) -> None:
        """One record of the metrics topic; its optional ``drift`` list feeds the drift series."""
        model = self._model(m.get("model_id"))
        if model is None:
            return
        x = _number(m.get("event_ts"))
        if x is None:
            self.n_dropped += 1
            return
        point = {k: m.get(k) for k in _POINT_FIELDS}
        point["model_version"] = _text(point["model_version"])
        for k in ("accuracy", "label_coverage"):
            point[k] = _number(point[k])
        version = point["model_version"]
        if model.last_version is not None and version != model.last_version:
            model.version_changes.append({"event_ts": int(x), "version": version,
                                          "from_version": model.last_version})
        model.last_version = version
        model.points.append(point)
        for d in m.get("drift") or ():
            if not isinstance(d, Mapping):
                continue
            statistic, threshold = _number(d.get("statistic")), _number(d.get("threshold"))
            detector = _text(d.get("detector"))
            if detector is None or statistic is None:
                continue
            key = (detector, _text(d.get("feature")))
            line = model.drift.get(key)
            if line is None:
                if len(model.drift) >= model.max_drift_series:
                    continue
                line = model.drift[key] = deque(maxlen=model.max_points)
            line.append([int(x), statistic, threshold])

    def add_alert(self, a: Mapping[str, Any]) -> None:
        """One record of the alerts topic."""
        model = self._model(a.get("model_id"))
        if model is None:
            return
        model.n_alerts += 1
        self._alerts.append(dict(a))

    def add_version(self, v: Mapping[str, Any]) -> None:
        """One record of the model-versions topic."""
        model = self._model(v.get("model_id"))
        if model is None:
            return
        model.announcements.append(dict(v))
        if v.get("status") == "champion":
            model.announced = dict(v)

    # ------------------------------------------------------------ output

    def models(self) -> list[dict]:
        """One summary per model: the version services report, the one announced, the newest figures."""
        out = []
        for model_id in sorted(self._models):
            model = self._models[model_id]
            last = model.points[-1] if model.points else {}
            out.append({
                "model_id": model_id,
                "reported_version": model.last_version,
                "announced_version": (model.announced or {}).get("version"),
                "accuracy": last.get("accuracy"),
                "label_coverage": last.get("label_coverage"),
                "n_predictions": last.get("n_predictions"),
                "event_ts": last.get("event_ts"),
                "n_alerts": model.n_alerts,
            })
        return out

    def series(self, model_id: str) -> dict | None:
        """A model's chartable series, or None for a model never seen."""
        model = self._models.get(model_id)
        if model is None:
            return None
        return {
            "model_id": model_id,
            "points": list(model.points),
            "version_changes": list(model.version_changes),
            "announcements": list(model.announcements),
            "drift": [{"detector": d, "feature": f, "points": list(line)}
                      for (d, f), line in sorted(model.drift.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))],
        }

    def alerts(self, model_id: str | None = None) -> list[dict]:
        """The alerts kept, oldest first; only ``model_id``'s when given."""
        return [a for a in self._alerts if model_id is None or a.get("model_id") == model_id]
