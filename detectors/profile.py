"""The reference a model version is monitored against, as plain data.

The retrainer builds one from the window a version was trained on and stores
it with the version; the monitor loads it when that version starts serving,
so drift is measured against what the model learned from, from its first
prediction on, instead of against a warm-up of live traffic.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

FORMAT = 1
PREDICTION = "<prediction>"  # the column holding the model's own answers


@dataclasses.dataclass
class ReferenceProfile:
    """Reference rows of one model version, their calibrations and the version's own score.

    Parameters
    ----------
    numeric, categorical
        Column names. The model's prediction is one of them, named
        ``"<prediction>"``: categorical for class labels, numeric for
        regression outputs.
    numeric_rows
        ``(n, len(numeric))`` floats, NaN for missing.
    categorical_rows
        ``(n, len(categorical))`` objects: strings, None for missing.
    calibration
        Detector name -> what that detector calibrated on these rows, as it
        reported it (plain data). A detector built with the same parameters
        reuses it instead of calibrating again.
    performance
        What the version scored when it was registered, e.g.
        ``{"metric": "accuracy", "value": 0.91, "n": 450}``, or empty.
    source
        Where the rows came from, for people reading it.

    Examples
    --------
    >>> import numpy as np
    >>> p = ReferenceProfile(["amount"], ["country", "<prediction>"],
    ...                      np.array([[1.5], [np.nan]]), np.array([["NL", "1"], [None, "0"]], dtype=object),
    ...                      performance={"metric": "accuracy", "value": 0.9, "n": 200})
    >>> d = p.to_dict()
    >>> d["numeric_rows"], d["categorical_rows"]
    ([[1.5], [None]], [['NL', '1'], [None, '0']])
    >>> ReferenceProfile.from_dict(d) == p
    True
    >>> ReferenceProfile(["x", "<prediction>"], [], [[1.0, 2.5]], []).n_rows  # a regressor's
    1
    >>> ReferenceProfile.from_dict({"format": 1})
    Traceback (most recent call last):
    ...
    ValueError: not a reference profile: missing 'numeric'
    """

    numeric: list[str]
    categorical: list[str]
    numeric_rows: np.ndarray
    categorical_rows: np.ndarray
    calibration: dict[str, Any] = dataclasses.field(default_factory=dict)
    performance: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.numeric = list(self.numeric)
        self.categorical = list(self.categorical)
        X = np.asarray(self.numeric_rows, dtype=np.float64)
        C = np.asarray(self.categorical_rows, dtype=object)
        # A side without columns still has rows: as many as the other side.
        n = len(X) if self.numeric else len(C) if self.categorical else 0
        self.numeric_rows = X.reshape(n if not self.numeric else -1, len(self.numeric))
        self.categorical_rows = C.reshape(n if not self.categorical else -1, len(self.categorical))
        if len(set(self.numeric) | set(self.categorical)) != len(self.numeric) + len(self.categorical):
            raise ValueError(f"column names must be unique across numeric and categorical, "
                             f"got {self.numeric} and {self.categorical}")

    @property
    def n_rows(self) -> int:
        return max(len(self.numeric_rows), len(self.categorical_rows))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReferenceProfile):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and missing values become None."""
        return {
            "format": FORMAT,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "numeric_rows": [[None if math.isnan(v) else v for v in row]
                             for row in self.numeric_rows.tolist()],
            "categorical_rows": [[None if v is None else str(v) for v in row]
                                 for row in self.categorical_rows.tolist()],
            "calibration": self.calibration,
            "performance": self.performance,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        if not isinstance(data, dict):
            raise ValueError(f"not a reference profile: expected a dict, got {type(data).__name__}")
        for key in ("numeric", "categorical", "numeric_rows", "categorical_rows"):
            if key not in data:
                raise ValueError(f"not a reference profile: missing {key!r}")
        if data.get("format") != FORMAT:
            raise ValueError(f"reference profile format {data.get('format')!r} is not {FORMAT}")
        numeric_rows = np.array([[np.nan if v is None else float(v) for v in row]
                                 for row in data["numeric_rows"]], dtype=np.float64)
        if not data["numeric"]:
            numeric_rows = np.empty((len(data["categorical_rows"]), 0))
        categorical_rows = np.empty((len(data["categorical_rows"]), len(data["categorical"])), dtype=object)
        for i, row in enumerate(data["categorical_rows"]):
            categorical_rows[i, :] = row
        return cls(data["numeric"], data["categorical"], numeric_rows, categorical_rows,
                   dict(data.get("calibration") or {}), dict(data.get("performance") or {}),
                   str(data.get("source") or ""))
