"""The monitor suite: the detectors the monitor runs on one model, sharing its false-alarm budget.

This is the one place the benchmark says what "driftline (monitor suite)"
is: the library's own :class:`~driftline.detectors.suite.DriftSuite`, built
the way ``consumers/monitor.py`` builds it for a classifier (the prediction
is a categorical column named ``"<prediction>"``), with the monitor's
defaults (``MonitorConfig``: the per-model budget of false alarms per event,
the reference size and the window). Membership and the split of the budget
(``SHARES``) come from the library, so when they change there the benchmark
measures the change.

Inputs (numeric, categorical, prediction) go to ``update_inputs`` and the
joined outcomes (whether a classifier was right, a regressor's residual) to
``update_outcomes``; every detection of every member counts, and
:func:`member` names which member made it.

>>> [k for k, v in sorted(shares().items()) if v > 0]
['accuracy', 'adwin', 'adwin_class', 'chi2', 'cusum', 'ks', 'mmd', 'prior']
>>> round(sum(shares().values()), 9), BUDGET
(1.0, 1e-06)
"""

from __future__ import annotations

import numpy as np

from driftline.consumers.monitor import MonitorConfig
from driftline.detectors import suite as library
from driftline.detectors.base import Detection
from driftline.detectors.features.quality import MISSING

PREDICTION = library.PREDICTION
CONFIG = MonitorConfig()
BUDGET = CONFIG.false_alarm_rate


def shares() -> dict[str, float]:
    """Share of the budget per detector name, as the library splits it for a classifier."""
    suite = build(["a", "b"], ["c"], with_prediction=True)
    running = {d.name for d in suite.inputs + suite.outcomes}
    return {name: share for name, share in library.SHARES.items() if name in running}


def build(numeric: list[str], categorical: list[str], with_prediction: bool,
          regression: bool = False) -> library.DriftSuite:
    """The suite the monitor would run on a model with these input columns.

    The monitor adds the prediction as a categorical column for a classifier
    and as a numeric one for a regressor.
    """
    nums = list(numeric) + ([PREDICTION] if with_prediction and regression else [])
    cats = list(categorical) + ([PREDICTION] if with_prediction and not regression else [])
    return library.DriftSuite(nums, cats, false_alarm_rate=CONFIG.false_alarm_rate,
                              reference_size=CONFIG.reference_size, window=CONFIG.window)


def quality_codes(X: np.ndarray | None, C: np.ndarray | None, n: int) -> np.ndarray:
    """Data-quality codes as the monitor builds them: MISSING for NaN and None, else OK."""
    parts = [np.zeros((n, 0), dtype=np.int8)]
    if X is not None:
        parts.append(np.where(np.isnan(X), MISSING, 0))
    if C is not None:
        parts.append(np.where(C == None, MISSING, 0))  # noqa: E711 (elementwise)
    return np.column_stack(parts).astype(np.int8)


def member(detection: Detection) -> str:
    """Which member of the suite made a detection (its detector name, e.g. "ks" or "cusum")."""
    return detection.detector
