"""The distribution functions, against closed forms and published table values."""

from __future__ import annotations

import math

import pytest

from driftline.detectors._stats import chi2_isf, chi2_sf, ks_c, normal_isf

XS = [1e-3, 0.1, 0.5, 1.0, 2.5, 7.0, 15.0, 40.0, 120.0, 400.0, 1500.0]


def sf_even(x: float, k: int) -> float:
    """Exact for even k: exp(-x/2) * sum_{i < k/2} (x/2)^i / i!."""
    h = x / 2.0
    return sum(math.exp(-h + i * math.log(h) - math.lgamma(i + 1)) for i in range(k // 2))


def sf_odd(x: float, k: int) -> float:
    """Exact for odd k: erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) sum_{j<(k-1)/2} x^j / (3*5*..*(2j+1))."""
    total, term = 0.0, 1.0
    for j in range((k - 1) // 2):
        term = 1.0 if j == 0 else term * x / (2 * j + 1)
        total += term
    return math.erfc(math.sqrt(x / 2.0)) + math.sqrt(2.0 * x / math.pi) * math.exp(-x / 2.0) * total


@pytest.mark.parametrize("k", [2, 4, 6, 10, 30, 100])
@pytest.mark.parametrize("x", XS)
def test_chi2_sf_even_df_closed_form(x, k):
    expected = sf_even(x, k)
    assert chi2_sf(x, k) == pytest.approx(expected, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("k", [1, 3, 5, 9, 31])
@pytest.mark.parametrize("x", XS[:9])
def test_chi2_sf_odd_df_closed_form(x, k):
    expected = sf_odd(x, k)
    assert chi2_sf(x, k) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("p", "df", "x"), [
    # Critical values as printed in standard chi-squared tables.
    (0.05, 1, 3.841458820694124),
    (0.01, 1, 6.634896601021214),
    (0.05, 10, 18.307038053275146),
    (0.001, 10, 29.58829844507442),
    (0.05, 100, 124.34211340400407),
])
def test_chi2_isf_table_values(p, df, x):
    assert chi2_isf(p, df) == pytest.approx(x, rel=1e-10)


@pytest.mark.parametrize("p", [0.5, 1e-2, 5e-5, 1e-9, 1e-14])
@pytest.mark.parametrize("df", [1, 2, 3, 7, 40, 500])
def test_chi2_isf_inverts_sf(p, df):
    assert chi2_sf(chi2_isf(p, df), df) == pytest.approx(p, rel=1e-9)


def test_chi2_edges_and_errors():
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 3) == 1.0
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)
    with pytest.raises(ValueError):
        chi2_isf(1.5, 3)


def test_ks_c_and_normal():
    assert ks_c(0.05) == pytest.approx(1.3581, abs=1e-4)  # the textbook 1.36
    assert ks_c(0.01) == pytest.approx(1.6276, abs=1e-4)  # the textbook 1.63
    assert normal_isf(0.025) == pytest.approx(1.959964, abs=1e-6)
    assert normal_isf(1e-6) == pytest.approx(4.753424, abs=1e-6)
    with pytest.raises(ValueError):
        ks_c(0.0)
