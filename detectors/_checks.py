"""Argument and input checks shared by the detectors, with the error messages users see."""

from __future__ import annotations

import numbers

import numpy as np


def check_features(features: list[str]) -> list[str]:
    if isinstance(features, str) or not all(isinstance(f, str) for f in features):
        raise ValueError(f"features must be a list of names, got {features!r}")
    # A copy, so that the caller changing their list later changes nothing here.
    features = list(features)
    if not features:
        raise ValueError("features must name at least one feature")
    if len(set(features)) != len(features):
        raise ValueError(f"features must be unique, got {features!r}")
    return features


def check_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def check_rate(false_alarm_rate: float, n_features: int, window: int) -> float:
    """The per-row false-alarm rate, which must leave each test an alpha below 1."""
    limit = n_features / window
    if (isinstance(false_alarm_rate, bool) or not isinstance(false_alarm_rate, numbers.Real)
            or not 0.0 < false_alarm_rate < limit):
        raise ValueError(f"false_alarm_rate must be in (0, len(features) / window = {limit:g}), "
                         f"got {false_alarm_rate!r}")
    return float(false_alarm_rate)


def _vector(name: str, values, what: str) -> np.ndarray:
    """``values`` as a 1-D float array (a copy), or a ValueError saying it must be a 1-D array of ``what``."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of {what}: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of {what}, got shape {arr.shape}")
    return arr


def binary_stream(name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values of the known items of a 1-D 0/1 array (NaN or None: unknown)."""
    arr = _vector(name, values, "0 and 1")
    known = ~np.isnan(arr)
    bad = known & (arr != 0.0) & (arr != 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be 0 or 1 (NaN for unknown), got {float(arr[i])!r} at position {i}")
    positions = np.flatnonzero(known)
    return positions, arr[positions]


def residual_batch(residuals) -> np.ndarray:
    """A regressor's residuals as a 1-D float array; NaN (unknown label) passes, inf does not."""
    r = _vector("residuals", residuals, "numbers")
    if np.isinf(r).any():
        i = int(np.flatnonzero(np.isinf(r))[0])
        raise ValueError(f"residuals must be finite (NaN for unknown), got {r[i]} at position {i}")
    return r


def numeric_batch(owner: str, X, features: list[str]) -> np.ndarray:
    """``X`` as a float copy of shape ``(n, len(features))``, non-finite values as NaN (missing)."""
    try:
        X = np.array(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{owner} takes numbers: {exc}") from None
    d = len(features)
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"expected an array of shape (n, {d}) for features "
                         f"{features}, got shape {X.shape}")
    X[~np.isfinite(X)] = np.nan
    return X


def check_calibration(calibration, owner: str, method: str, version: int, params: dict) -> None:
    """Refuse, with the reason, a calibration made by another detector, version or parameters.

    Whether it was made for the same reference rows is each detector's own check.
    """
    if not isinstance(calibration, dict) or calibration.get("method") != method:
        raise ValueError(f"calibration must be the dict of a {owner}'s .calibration")
    if calibration.get("version") != version:
        raise ValueError(f"calibration version {calibration.get('version')!r} is not "
                         f"{version}; calibrate again with set_reference(X)")
    wrong = sorted(k for k, v in params.items() if calibration.get(k) != v)
    if wrong:
        raise ValueError(f"calibration was made with other parameters ({', '.join(wrong)})")
