from __future__ import annotations

import dataclasses

import pytest

from driftline.exceptions import SettingsError
from driftline.settings import ENV, Settings


def test_defaults():
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.topic_prefix == "driftline."
    assert s.resolved_registry_url.startswith("sqlite:///") and s.resolved_registry_url.endswith("registry.db")
    assert s.artifact_path.name == "artifacts"


def test_every_field_has_one_variable():
    assert set(ENV) == {f.name for f in dataclasses.fields(Settings)}
    assert len(set(ENV.values())) == len(ENV)
    assert all(v.startswith("DRIFTLINE_") for v in ENV.values())


def test_values_are_parsed():
    s = Settings.from_env({"DRIFTLINE_PARTITIONS": "6", "DRIFTLINE_GATE_MARGIN": "0.02",
                           "DRIFTLINE_LOG_LEVEL": "info", "DRIFTLINE_KAFKA_BOOTSTRAP": "a:1,b:2",
                           "DRIFTLINE_REGISTRY_URL": "postgresql+psycopg://u@h/db"})
    assert (s.partitions, s.gate_margin, s.log_level) == (6, 0.02, "INFO")
    assert s.resolved_registry_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("var,value", [
    ("DRIFTLINE_PARTITIONS", "0"), ("DRIFTLINE_PARTITIONS", "two"),
    ("DRIFTLINE_KAFKA_BOOTSTRAP", "localhost"), ("DRIFTLINE_KAFKA_BOOTSTRAP", "h:99999"),
    ("DRIFTLINE_HOLDOUT_FRACTION", "1.5"), ("DRIFTLINE_GATE_MARGIN", "nan"),
    ("DRIFTLINE_LOG_LEVEL", "loud"), ("DRIFTLINE_BATCH_WITHIN_S", "-1"),
])
def test_bad_values_name_the_variable(var, value):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    message = str(info.value)
    assert message.startswith(var) and repr(value) in message and "\n" not in message


def test_frozen():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.partitions = 9
    assert s.replace(partitions=9).partitions == 9


def test_settings_env_reads_back_as_the_same_settings():
    from driftline.processes import settings_env

    s = Settings(partitions=5, retrain_on=("concept_drift", "data_drift"), false_alarm_rate=2e-6,
                 gate_margin=0.02, batch_within_s=0.25)
    assert Settings.from_env(settings_env(s, base={})) == s
    assert Settings.from_env(settings_env(Settings(), base={})) == Settings()
