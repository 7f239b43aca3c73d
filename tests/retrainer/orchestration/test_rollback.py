"""roll_back(): restore the previous champion when it does better on live labels, else retrain instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.contract import Labeled, RetrainRequest
from driftline.retrainer.persistence.artifacts import ArtifactStore
from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.data.frame import labeled_frame
from driftline.retrainer.orchestration.job import retrain
from driftline.retrainer.persistence.registry import Registry
from driftline.retrainer.orchestration.rollback import previous_champion, roll_back
from driftline.settings import Settings
from tests.retrainer.streams import stream_rows

SETTINGS = Settings(min_train_examples=200, holdout_fraction=0.3, gate_margin=0.01)
SINCE = 100_000  # the demoted version's first prediction


def served(name: str, n: int, *, flip: float = 0.0, seed: int = 11) -> pd.DataFrame:
    """What the version under test served from SINCE on, labeled by concept ``name``
    with a share ``flip`` of the labels flipped."""
    rng = np.random.default_rng(seed)
    events = [Labeled(f"live{i}", "m", "2", SINCE + i, SINCE + i + 5, x, 0,
                      (1 - y) if rng.random() < flip else y)
              for i, (x, y) in enumerate(stream_rows(name, n, seed=seed))]
    return labeled_frame(events)


def champions(registry: Registry, store: ArtifactStore) -> None:
    """v1 learned Agrawal's function 0, then v2 its function 2."""
    for k, name in enumerate(["agrawal0", "agrawal2"], start=1):
        rows = stream_rows(name, 1500, seed=k)
        frame = labeled_frame([Labeled(f"t{k}-{i}", "m", "1", 1000 * k + i, 0, x, 0, y)
                               for i, (x, y) in enumerate(rows)])
        record = retrain(RetrainRequest(f"r{k}", "m", [f"a{k}"], 0, 0), frame, registry, store, SETTINGS)
        assert (record.version, record.status) == (str(k), "champion")


def rollback_of(version: str = "2", request_id: str = "q-rollback") -> RetrainRequest:
    return RetrainRequest(request_id, "m", ["a-rollback"], since_ts=SINCE, ts=SINCE + 5000,
                          reason=f"v{version} fell short", action="rollback", model_version=version)


@pytest.fixture
def two(registry: Registry, store: ArtifactStore) -> Registry:
    champions(registry, store)
    return registry


def test_the_previous_champion_is_restored_when_it_does_better_on_what_the_version_served(
        two: Registry, store: ArtifactStore) -> None:
    # Live traffic still follows v1's concept: v2's promotion was the mistake.
    record = roll_back(rollback_of(), served("agrawal0", 800), two, store, SETTINGS)
    assert (record.version, record.status) == ("1", "champion")
    assert [(v.version, v.status) for v in two.versions("m")] == [("1", "champion"), ("2", "demoted")]
    assert record.status_reason.startswith("rolled back from v2: v2 fell short (v1 scored ")
    assert "on the 800 labeled events v2 served, v2 scored" in record.status_reason


def test_a_version_the_previous_one_does_no_better_than_stays_and_a_retrain_is_gated_against_it(
        two: Registry, store: ArtifactStore) -> None:
    # v2's concept, with a quarter of the labels flipped: v2 falls short of its gate score,
    # and v1, which learned an older concept, does worse still.
    record = roll_back(rollback_of(), served("agrawal2", 800, flip=0.25), two, store, SETTINGS)
    assert record.version == "3" and record.parent_version == "2"
    assert record.request_id == "q-rollback" and record.alert_ids == ["a-rollback"]
    assert record.reason.startswith("retrained instead of rolling back v2: v1 scored ")
    assert ", no better than v2 with 95% confidence" in record.reason
    figures = record.metrics["rollback"]
    assert (figures["previous_version"], figures["version"], figures["n"]) == ("1", "2", 800)
    assert figures["challenger"] < figures["other"]  # v1 below v2 on the live labels
    assert record.window["since_ts"] == SINCE and record.window["n_examples"] == 800
    # Whatever the gate said of the retrain, v2 was not rolled back.
    assert two.get("m", "2").status in ("champion", "archived")
    assert two.champion("m").version in ("2", "3")


def test_without_live_labels_the_monitors_verdict_stands(two: Registry, store: ArtifactStore) -> None:
    record = roll_back(rollback_of(), served("agrawal0", 0), two, store, SETTINGS)
    assert (record.version, record.status) == ("1", "champion")
    assert record.status_reason == "rolled back from v2: v2 fell short"


def test_a_request_handled_before_gives_what_it_gave_then(two: Registry, store: ArtifactStore) -> None:
    traffic = served("agrawal2", 800, flip=0.25)
    first = roll_back(rollback_of(), traffic, two, store, SETTINGS)
    again = roll_back(rollback_of(), traffic, two, store, SETTINGS)
    assert again == first and len(two.versions("m")) == 3  # not trained twice


def test_nothing_is_done_for_a_version_that_is_no_longer_the_champion(
        two: Registry, store: ArtifactStore) -> None:
    assert roll_back(rollback_of("1", "q-old"), served("agrawal0", 300), two, store, SETTINGS) is None
    assert two.champion("m").version == "2"


def test_a_first_version_has_nothing_to_go_back_to(registry: Registry, store: ArtifactStore) -> None:
    rows = stream_rows("agrawal0", 600)
    frame = labeled_frame([Labeled(f"t{i}", "m", "0", i, 0, x, 0, y) for i, (x, y) in enumerate(rows)])
    retrain(RetrainRequest("r1", "m", [], 0, 0), frame, registry, store, SETTINGS)
    assert previous_champion(registry, "m", "1") is None
    with pytest.raises(RegistryError, match="no earlier champion"):
        roll_back(rollback_of("1"), served("agrawal0", 300), registry, store, SETTINGS)
