"""The reference profile a new version is registered with, for the monitor to watch it against.

It holds a seeded sample of the window the version was trained on (its
features as the monitor will see them), the version's own answers on the
holdout (so a shift in what it predicts, label or prior shift, is measured
against what it predicted on data it had not seen), its holdout score (the
baseline of the performance test) and every detector's calibration on those
rows, made with the monitor's settings so the monitor can start testing at
once.

Examples
--------
>>> import pandas as pd
>>> class Threshold:
...     def predict_many(self, rows): return [int(r["amount"] > 5) for r in rows]
>>> df = pd.DataFrame({"amount": [float(i % 10) for i in range(400)],
...                    "country": ["NL", "DE"] * 200, "label": [int(i % 10 > 5) for i in range(400)]})
>>> profile = build_profile(df.iloc[:300], df.iloc[300:], ["amount", "country"], Threshold(),
...                         {"metric": "accuracy", "value": 0.9, "n": 100}, reference_size=200)
>>> profile.numeric, profile.categorical, profile.n_rows
(['amount'], ['country', '<prediction>'], 200)
>>> sorted(profile.calibration), profile.performance["value"]
(['chi2', 'cusum', 'ks'], 0.9)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from driftline.detectors.profile import PREDICTION, ReferenceProfile
from driftline.detectors.suite import calibrate
from driftline.retrainer.learners.model import NUMBER, infer_types

_SEED = 0


def build_profile(train: pd.DataFrame, holdout: pd.DataFrame, features: list[str], model: Any,
                  performance: dict[str, Any], *, reference_size: int = 1000,
                  false_alarm_rate: float = 1e-6, source: str = "",
                  detectors: Mapping[str, float | None] | None = None) -> ReferenceProfile:
    """The calibrated profile of a version trained on ``train`` and scored on ``holdout``.

    Feature types follow the trained model's reading of the data (numbers
    where most values are numbers). At most ``reference_size`` rows are kept,
    a seeded random sample of the whole window; the model's answers on the
    newest ``reference_size`` holdout rows form the prediction column.
    """
    window = pd.concat([train, holdout], ignore_index=True)
    types = infer_types({f: window[f].tolist() for f in features})
    numeric = [f for f in features if types[f] == NUMBER]
    categorical = [f for f in features if types[f] != NUMBER]
    rng = np.random.default_rng(_SEED)
    take = np.sort(rng.choice(len(window), min(reference_size, len(window)), replace=False))
    sample = window.iloc[take]
    answers = _answers(model, holdout.iloc[-reference_size:], features)
    regression = any(isinstance(a, float) and not float(a).is_integer() for a in answers)
    n = max(len(sample), len(answers))
    X = np.full((n, len(numeric) + regression), np.nan)
    C = np.full((n, len(categorical) + (not regression)), None, dtype=object)
    for j, f in enumerate(numeric):
        X[:len(sample), j] = [_number(v) for v in sample[f].tolist()]
    for j, f in enumerate(categorical):
        C[:len(sample), j] = [_category(v) for v in sample[f].tolist()]
    if regression:
        X[:len(answers), -1] = [_number(a) for a in answers]
    else:
        C[:len(answers), -1] = [_category(a) for a in answers]
    profile = ReferenceProfile(numeric + [PREDICTION] * regression,
                               categorical + [PREDICTION] * (not regression), X, C,
                               performance=dict(performance), source=source)
    return calibrate(profile, false_alarm_rate=false_alarm_rate, reference_size=reference_size,
                     detectors=detectors)


def _answers(model: Any, rows: pd.DataFrame, features: list[str]) -> list:
    frame = rows.reindex(columns=features)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return list(model.predict_many(records)) if records else []


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v) if math.isfinite(v) else math.nan


def _category(v: Any) -> str | None:
    # As the monitor reads a prediction event: str() of whatever came, None if missing.
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)
