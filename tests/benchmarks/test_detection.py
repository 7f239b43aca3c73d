"""The detection benchmark's harness on a tiny run: row shapes, and drifts where the streams say.

These check the machinery, not the figures: the figures are what
``python benchmarks/detection.py`` is for.
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.drift_bench import concept, contenders, harness, report, streams, suite

ROOT = Path(__file__).resolve().parents[2]
TINY = harness.Config(seeds=1, concept_seeds=1, stationary_seeds=1, stationary_rows=2_500, alarm_cap=5,
                      slow_seeds=0, slow_events=200, throughput_rows=1_500, scenarios_per_family=1,
                      tcpd_series=("UKCoalEmploy",))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    results = harness.run(TINY, base=0)
    out = report.rows(results)
    return out + report.verdict(out)


# ---------------------------------------------------------------- rows


def test_every_row_has_exactly_the_keys_of_its_kind(rows):
    assert {r["kind"] for r in rows} == {"result", "throughput", "verdict"}
    for r in rows:
        assert tuple(r) == report.KEYS[r["kind"]], r
        json.loads(json.dumps(r))  # plain data


def test_every_family_and_contender_has_rows(rows):
    results = [r for r in rows if r["kind"] == "result"]
    assert {r["family"] for r in results} == set(harness.FAMILIES) - {"throughput", "episodes"}
    names = {c.name for c in contenders.contenders()}
    assert names <= {r["contender"] for r in results}
    assert contenders.SUITE in {r["contender"] for r in results if r["family"] == "stationary"}


def test_drift_rows_count_streams_and_delays_consistently(rows):
    drift = [r for r in rows if r["kind"] == "result" and r["applies"] and r["drifts_present"]]
    assert drift
    for r in drift:
        assert r["drifts_present"] == r["streams"] == len(r["delays"])
        assert r["drifts_detected"] == sum(d is not None for d in r["delays"])
        assert all(d is None or 0 <= d < r["horizon"] for d in r["delays"])
        assert r["events"] >= r["pre_drift_events"] > 0


def test_not_applicable_rows_carry_no_figures(rows):
    na = [r for r in rows if r["kind"] == "result" and not r["applies"]]
    assert na and all(r["events"] is None and r["note"] == "n/a" for r in na)
    # river's binary detectors take 0/1 input: error streams only.
    assert all(not r["applies"] for r in rows if r["kind"] == "result"
               and r["contender"] == "river DDM" and r["family"] in ("covariate", "joint"))


def test_slow_contenders_are_marked_when_left_out(rows):
    kswin = [r for r in rows if r["kind"] == "result" and r["contender"] == "river KSWIN"
             and r["family"] == "covariate"]
    assert kswin and all(r["streams"] == 0 and r["note"].startswith("skipped") for r in kswin)


def test_stationary_rates_are_false_alarms_over_events(rows):
    for r in rows:
        if r["kind"] == "result" and r["family"] == "stationary":
            assert r["false_alarms_per_1e6"] == round(r["false_alarms"] / r["events"] * 1e6, 3)


def test_tcpd_has_the_no_change_floor_and_means(rows):
    tcpd_rows = [r for r in rows if r["kind"] == "result" and r["family"] == "tcpd"]
    floor = [r for r in tcpd_rows if r["contender"] == report.NO_CHANGE]
    assert {r["scenario"] for r in floor} == {"UKCoalEmploy", "mean"}
    assert all(0.0 <= r["f1"] <= 1.0 for r in tcpd_rows)


def test_verdict_checks_are_the_five_goals(rows):
    verdicts = [r for r in rows if r["kind"] == "verdict"]
    assert {v["check"] for v in verdicts} == {"a", "b", "c", "d", "e"}
    assert all(v["ok"] in (True, False, None) and v["text"] for v in verdicts)


def _drift_row(contender, source, delays, rate, events, horizon=2000):
    return report.row("result", contender=contender, source=source, family="concept", scenario="x",
                      target="errors", effect="large", shape="abrupt", applies=True, streams=len(delays),
                      drifts_present=len(delays), drifts_detected=sum(d is not None for d in delays),
                      horizon=horizon, delays=delays, stationary_false_alarms_per_1e6=rate,
                      stationary_events=events)


def test_verdict_compares_delays_only_with_river_detectors_within_the_budget():
    suite_row = _drift_row(contenders.SUITE, "driftline", [50.0, 60.0, 70.0], 0.5, 1_000_000)
    fast_noisy = _drift_row("river A", "river", [5.0, 5.0, 5.0], 300.0, 1_000_000)
    quiet_short = _drift_row("river B", "river", [10.0, 10.0, 10.0], 0.0, 20_000)
    quiet_long = _drift_row("river C", "river", [40.0, None, 90.0], 0.0, 1_000_000)
    def check_c(rows):
        (c,) = [v for v in report.verdict(rows) if v["check"] == "c"]
        return c

    # A miss counts as later than any delay: river C's median is 90, the suite's 60.
    c = check_c([suite_row, fast_noisy, quiet_short, quiet_long])
    assert c["ok"] is True and "fastest river within budget river C 90" in c["text"]
    assert "river B 10" in c["text"] and "rate not established" in c["text"]
    assert "at any false-alarm rate river A 5" in c["text"]
    quick_quiet = _drift_row("river D", "river", [20.0, 30.0, 40.0], 1.0, 2_000_000)
    assert check_c([suite_row, quick_quiet])["ok"] is False
    c = check_c([suite_row, fast_noisy])
    assert c["ok"] is None and "none within budget" in c["text"]


def test_table_mentions_every_family(rows):
    text = report.table(rows) + report.verdict_text([r for r in rows if r["kind"] == "verdict"])
    for family in ("stationary", "covariate", "categorical", "joint", "concept", "label", "TCPD",
                   "throughput", "verdict"):
        assert family in text


def test_cli_prints_json_rows():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "detection.py"), "--quick", "--json",
                          "--quiet", "--only", "categorical"], capture_output=True, text=True, check=True,
                         cwd=ROOT, timeout=120)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["kind"] for r in rows} == {"result", "verdict", "run"}
    assert {r["family"] for r in rows if r["kind"] == "result"} == {"categorical"}
    assert all(tuple(r) == report.KEYS[r["kind"]] for r in rows)


def test_cli_rejects_an_unknown_family():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "detection.py"), "--only", "nope"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "invalid choice: 'nope'" in out.stderr


# ---------------------------------------------------------------- streams


def _unchanged(change):
    return dataclasses.replace(change, shift=0.0, scale=1.0)


@pytest.mark.parametrize("change", streams.COVARIATE_CHANGES, ids=lambda c: c.name)
def test_covariate_change_starts_at_drift_at_in_one_feature(change):
    s = streams.covariate(change, seed=11)
    base = streams.covariate(_unchanged(change), seed=11)
    assert s.drift_at == base.drift_at and s.drift_at % 500 != 0
    assert streams.DRIFT_FROM <= s.drift_at < streams.DRIFT_FROM + streams.DRIFT_SPREAD + 1
    assert len(s.data) == s.drift_at + s.horizon
    diff = s.data.numeric - base.data.numeric
    j = streams.NUMERIC_NAMES.index(s.note.split()[-1])
    assert np.all(diff[:s.drift_at] == 0.0)
    assert np.all(np.delete(diff, j, axis=1) == 0.0)
    assert np.all(diff[s.drift_at:, j] != 0.0)
    if change.shape == "gradual":  # grows to the full shift over the ramp, then stays
        end = s.drift_at + streams.RAMP
        assert diff[s.drift_at, j] == pytest.approx(change.shift / streams.RAMP)
        assert np.allclose(diff[end:, j], change.shift)


@pytest.mark.parametrize("change", streams.CATEGORICAL_CHANGES, ids=lambda c: c.name)
def test_categorical_change_starts_at_drift_at_in_one_feature(change):
    s = streams.categorical(change, seed=5)
    base = streams.categorical(dataclasses.replace(change, after=None, unseen=0.0), seed=5)
    j = streams.CATEGORICAL_NAMES.index(change.feature)
    same = s.data.categorical == base.data.categorical
    assert same[:s.drift_at].all()
    assert np.delete(same, j, axis=1).all()
    assert not same[s.drift_at:s.drift_at + 200, j].all()
    after = s.data.categorical[s.drift_at:, j]
    if change.unseen:
        assert any(str(v).startswith("new") for v in after)
        assert not any(str(v).startswith("new") for v in s.data.categorical[:s.drift_at, j])


@pytest.mark.parametrize("name,effect,rho", streams.JOINT_CHANGES)
def test_joint_change_flips_the_correlation_at_drift_at_and_keeps_marginals(name, effect, rho):
    s = streams.joint(name, effect, rho, seed=2)
    X, at = s.data.numeric, s.drift_at
    before, after = np.corrcoef(X[:at, :2].T)[0, 1], np.corrcoef(X[at:, :2].T)[0, 1]
    assert before == pytest.approx(rho, abs=0.1) and after == pytest.approx(-rho, abs=0.1)
    assert X[:at, 1].std() == pytest.approx(X[at:, 1].std(), rel=0.1)


@pytest.mark.parametrize("name,effect,prior", streams.LABEL_CHANGES)
def test_label_shift_moves_the_predictions_at_drift_at(name, effect, prior):
    s = streams.label_shift(name, effect, prior, seed=4)
    positive = s.data.prediction == "1"
    at = s.drift_at
    assert positive[:at].mean() == pytest.approx(0.5, abs=0.05)
    assert positive[at:].mean() == pytest.approx(0.16 + 0.68 * prior, abs=0.05)


def test_concept_drift_raises_the_frozen_models_errors_at_drift_at():
    change = next(c for c in concept.CONCEPT_CHANGES if c.name.startswith("Agrawal"))
    s = concept.concept(change, seed=3, horizon=600)
    at = s.drift_at
    assert len(s.data) == at + 600 and s.target == "errors"
    assert s.data.errors[at - 600:at].mean() < 0.2 < 0.3 < s.data.errors[at:].mean()


def test_regression_drift_raises_the_frozen_models_residuals_at_drift_at():
    change = next(c for c in concept.REGRESSION_CHANGES if "gra" in c.name)
    s = concept.regression(change, seed=3, horizon=600)
    at, size = s.drift_at, np.abs(s.data.residuals)
    assert len(s.data) == at + 600 and s.target == "residuals" and s.data.regression
    assert size[at:].mean() > 1.3 * size[at - 600:at].mean()
    offset = next(c for c in concept.REGRESSION_CHANGES if "+2" in c.name)
    s = concept.regression(offset, seed=3, horizon=600)
    r = s.data.residuals  # the label moves up by 2, so the residual moves down by 2
    assert r[s.drift_at:].mean() - r[:s.drift_at].mean() == pytest.approx(-2.0, abs=0.4)


def test_stationary_streams_have_every_block_and_the_error_rate_asked_for():
    data = streams.stationary(seed=9, n=20_000, error_rate=0.2, residuals="laplace")
    assert all(data.has(k) for k in streams.BLOCKS)
    assert data.numeric.shape == (20_000, len(streams.NUMERIC_NAMES))
    assert data.errors.mean() == pytest.approx(0.2, abs=0.02)
    assert np.abs(data.residuals).mean() == pytest.approx(1.0, abs=0.05)  # Laplace(1): E|r| = 1
    model, regressor = (streams.stationary_view(data, v) for v in streams.MODEL_VIEWS)
    assert not model.regression and model.prediction.dtype == object
    assert regressor.regression and regressor.prediction.dtype == np.float64 and not regressor.has("errors")


def test_seeds_give_the_same_streams():
    a = streams.covariate(streams.COVARIATE_CHANGES[0], seed=streams.seed_for(0, "covariate", 1))
    b = streams.covariate(streams.COVARIATE_CHANGES[0], seed=streams.seed_for(0, "covariate", 1))
    c = streams.covariate(streams.COVARIATE_CHANGES[0], seed=streams.seed_for(1, "covariate", 1))
    assert np.array_equal(a.data.numeric, b.data.numeric) and not np.array_equal(a.data.numeric, c.data.numeric)


# ---------------------------------------------------------------- parts


def test_suite_is_the_monitors_and_counts_every_member():
    data = streams.stationary(seed=1, n=600, error_rate=0.2)
    classifier = contenders.by_name()[contenders.SUITE].build(streams.stationary_view(data, "model"), "model", 0)
    assert classifier.suite.false_alarm_rate == suite.BUDGET
    assert classifier.suite.categorical == [*streams.CATEGORICAL_NAMES, suite.PREDICTION]
    assert math.isclose(sum(suite.shares().values()), 1.0)
    assert classifier.feed(data.rows(0, 600)) == [] and set(classifier.hits) == set(suite.shares())
    regressor = contenders.by_name()[contenders.SUITE].build(streams.stationary_view(data, "regressor"),
                                                             "regressor", 0)
    assert regressor.suite.numeric == [*streams.NUMERIC_NAMES, suite.PREDICTION]
    assert regressor.suite.categorical == [*streams.CATEGORICAL_NAMES]


def test_a_drift_stream_stops_at_the_first_detection_after_the_drift():
    data = streams.Blocks(errors=np.r_[np.zeros(3000), np.ones(1000)])
    s = streams.Stream("concept", "x", 0, data, "errors", drift_at=3000, horizon=1000)
    c = contenders.by_name()["river ADWIN"]
    t = harness.Tally(c, "concept", "x", "errors")
    delay = harness.run_drift_stream(c.build(data, "errors", 0), s, t, chunk=500)
    assert 0 <= delay < 100 and t.events == 3500 and t.false_alarms == 0 and t.delays == [delay]


def test_a_new_concept_drift_detector_in_the_library_joins_the_run_on_error_streams(monkeypatch):
    import driftline.detectors as dl
    from driftline.detectors.predictions.error_rate import ErrorRateDrift

    class LateDrift(ErrorRateDrift):
        name = "late"

    monkeypatch.setattr(dl, "LateDrift", LateDrift, raising=False)
    monkeypatch.setattr(dl, "__all__", [*dl.__all__, "LateDrift"])
    c = contenders.by_name()["LateDrift"]
    assert c.source == "driftline" and c.watches == {"errors"}
    data = streams.Blocks(errors=np.r_[np.zeros(3000), np.ones(300)])
    assert c.build(data, "errors", 0).feed(data) != []


@pytest.mark.parametrize("module", [streams, concept, suite, contenders, report], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_alerts_per_drift_count_one_episode_per_key_and_resolve_only_a_drift_that_ended():
    from benchmarks.drift_bench import episodes

    runs = [episodes.run_one(s, 0, onset=3000, after=12_000) for s in episodes.SCENARIOS]
    by = {r.scenario: r for r in runs}
    assert ("data_drift", "x0") in by["mean +1 sd"].firing
    assert by["mean +1 sd"].resolved == {} and by["concept"].resolved == {}
    assert set(by["mean +1 sd, back"].resolved) <= set(by["mean +1 sd, back"].firing)
    assert by["stationary"].firing == {} and by["stationary"].detections == 0
    assert by["mean +1 sd"].detections > sum(by["mean +1 sd"].firing.values())
    rows_ = episodes.rows(runs)
    verdict = episodes.verdict(rows_)
    assert tuple(verdict) == report.KEYS["verdict"]
    assert [r["scenario"] for r in rows_] == list(episodes.SCENARIOS)
    json.loads(json.dumps(rows_))

