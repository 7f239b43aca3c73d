"""Kafka security settings: parsed, checked together, secrets never shown."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest

from driftline.exceptions import SettingsError
from driftline.kafka.clients import aiokafka_options, kafka_python_options, load_token_provider, ssl_context
from driftline.redact import Secret
from driftline.settings import Settings, unknown_variables

SASL = {"DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "DRIFTLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "DRIFTLINE_KAFKA_SASL_USERNAME": "svc", "DRIFTLINE_KAFKA_SASL_PASSWORD": "s3cr3t-pw"}


def test_protocol_from_the_bootstrap_prefix_or_the_setting():
    s = Settings.from_env({"DRIFTLINE_KAFKA_BOOTSTRAP": "ssl://a:9093,SSL://b:9093"})
    assert (s.kafka_bootstrap, s.kafka_security_protocol) == ("a:9093,b:9093", "SSL")
    s = Settings.from_env({"DRIFTLINE_KAFKA_BOOTSTRAP": "a:9093", "DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "ssl"})
    assert s.kafka_security_protocol == "SSL"
    assert Settings.from_env({}).kafka_security_protocol == "PLAINTEXT"


@pytest.mark.parametrize("env,names", [
    ({"DRIFTLINE_KAFKA_BOOTSTRAP": "SSL://a:1", "DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     ["DRIFTLINE_KAFKA_BOOTSTRAP", "DRIFTLINE_KAFKA_SECURITY_PROTOCOL"]),
    ({"DRIFTLINE_KAFKA_BOOTSTRAP": "SSL://a:1,SASL_SSL://b:1"}, ["DRIFTLINE_KAFKA_BOOTSTRAP"]),
    ({"DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "TLS"}, ["DRIFTLINE_KAFKA_SECURITY_PROTOCOL"]),
    ({"DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, ["DRIFTLINE_KAFKA_SASL_MECHANISM"]),
    ({**SASL, "DRIFTLINE_KAFKA_SASL_MECHANISM": "GSSAPI"}, ["DRIFTLINE_KAFKA_SASL_MECHANISM"]),
    ({**SASL, "DRIFTLINE_KAFKA_SASL_PASSWORD": ""}, ["DRIFTLINE_KAFKA_SASL_PASSWORD"]),
    ({"DRIFTLINE_KAFKA_SASL_USERNAME": "svc"}, ["DRIFTLINE_KAFKA_SASL_USERNAME",
                                                "DRIFTLINE_KAFKA_SECURITY_PROTOCOL"]),
    ({**SASL, "DRIFTLINE_KAFKA_SASL_MECHANISM": "OAUTHBEARER"}, ["DRIFTLINE_KAFKA_SASL_OAUTH_TOKEN_PROVIDER"]),
    ({"DRIFTLINE_KAFKA_SSL_CAFILE": "/no/such/ca.pem", "DRIFTLINE_KAFKA_SECURITY_PROTOCOL": "SSL"},
     ["DRIFTLINE_KAFKA_SSL_CAFILE"]),
    ({"DRIFTLINE_REPLICATION_FACTOR": "2", "DRIFTLINE_MIN_INSYNC_REPLICAS": "3"},
     ["DRIFTLINE_MIN_INSYNC_REPLICAS", "DRIFTLINE_REPLICATION_FACTOR"]),
])
def test_bad_combinations_are_one_line_naming_the_variables(env, names):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    text = str(info.value)
    assert "\n" not in text and all(n in text for n in names), text
    assert "s3cr3t-pw" not in text


def test_password_is_a_secret_everywhere_it_could_show():
    s = Settings.from_env({**SASL, "DRIFTLINE_REGISTRY_URL": "postgresql+psycopg://app:db-pw@h/reg",
                           "DRIFTLINE_ARTIFACT_KEY": "artifact-key-0123456789"})
    assert isinstance(s.kafka_sasl_password, Secret) and s.kafka_sasl_password.reveal() == "s3cr3t-pw"
    shown = repr(s) + str(s) + s.shown_registry_url
    for secret in ("s3cr3t-pw", "db-pw", "artifact-key-0123456789"):
        assert secret not in shown
    assert s.shown_registry_url == "postgresql+psycopg://app:***@h/reg"
    assert set(s.secret_values()) == {"s3cr3t-pw", "db-pw", "artifact-key-0123456789"}
    assert "s3cr3t-pw" not in repr(kafka_python_options(s)) + repr(aiokafka_options(s))
    assert kafka_python_options(s)["sasl_plain_password"] == "s3cr3t-pw"


def test_secrets_from_files(tmp_path):
    (tmp_path / "pw").write_text("from-a-file\n")
    env = {**SASL, "DRIFTLINE_KAFKA_SASL_PASSWORD": "", "DRIFTLINE_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "pw")}
    assert Settings.from_env(env).kafka_sasl_password.reveal() == "from-a-file"
    with pytest.raises(SettingsError, match="both DRIFTLINE_KAFKA_SASL_PASSWORD and"):
        Settings.from_env({**env, "DRIFTLINE_KAFKA_SASL_PASSWORD": "x"})
    with pytest.raises(SettingsError, match="DRIFTLINE_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        Settings.from_env({**env, "DRIFTLINE_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "missing")})


def test_options_for_each_protocol_and_mechanism():
    plain = kafka_python_options(Settings(kafka_bootstrap="a:1"))
    assert plain == {"bootstrap_servers": ["a:1"], "security_protocol": "PLAINTEXT"}
    tls = aiokafka_options(Settings(kafka_bootstrap="SSL://a:1"))
    assert tls["security_protocol"] == "SSL" and isinstance(tls["ssl_context"], ssl.SSLContext)
    assert tls["ssl_context"].check_hostname and tls["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    off = ssl_context(Settings(kafka_bootstrap="SSL://a:1", kafka_ssl_check_hostname=False))
    assert off is not None and not off.check_hostname
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        o = kafka_python_options(Settings(kafka_bootstrap="SASL_PLAINTEXT://a:1", kafka_sasl_mechanism=mechanism,
                                          kafka_sasl_username="u", kafka_sasl_password="p"))
        assert (o["sasl_mechanism"], o["sasl_plain_username"], o["sasl_plain_password"]) == (mechanism, "u", "p")
        assert "ssl_context" not in o


def test_oauthbearer_token_provider_is_plugged_into_both_libraries():
    s = Settings(kafka_bootstrap="SASL_SSL://a:1", kafka_sasl_mechanism="OAUTHBEARER",
                 kafka_sasl_oauth_token_provider="tests.kafka_tokens:alice")
    sync, asynchronous = kafka_python_options(s), aiokafka_options(s)
    assert sync["sasl_oauth_token_provider"].token().count(".") == 2
    assert asyncio.run(asynchronous["sasl_oauth_token_provider"].token()).count(".") == 2
    with pytest.raises(SettingsError, match="has no 'nobody'"):
        load_token_provider("tests.kafka_tokens:nobody")


def test_unknown_variable_gets_one_warning_with_the_closest_name(caplog):
    assert unknown_variables({"DRIFTLINE_BOOTSTRAP": "x"}) == [
        "DRIFTLINE_BOOTSTRAP is not a driftline setting and is ignored; did you mean DRIFTLINE_KAFKA_BOOTSTRAP?"]
    assert "DRIFTLINE_PARTITIONS" in unknown_variables({"DRIFTLINE_PARTITONS": "3"})[0]
    assert unknown_variables({"DRIFTLINE_KAFKA_SASL_PASSWORD_FILE": "/x", "DRIFTLINE_TEST_POSTGRES_URL": "y"}) == []
    warned: list[str] = []
    Settings.from_env({"DRIFTLINE_BOOTSTRAP": "x"}, warn=warned.append)
    assert len(warned) == 1
    with caplog.at_level(logging.WARNING):
        Settings.from_env({"DRIFTLINE_BOOTSTRAP": "x"})
    assert [r.getMessage() for r in caplog.records] == warned


@pytest.mark.parametrize("url,says", [
    ("notaurl", "must be an SQLAlchemy URL"),
    ("mysql://root:db-pw@h/db", "driver 'mysqldb' is not installed"),
    ("nosuchdb://u:db-pw@h/db", "no database dialect 'nosuchdb'"),
])
def test_bad_registry_url_is_one_line_without_its_password(url, says):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DRIFTLINE_REGISTRY_URL": url})
    text = str(info.value)
    assert says in text and "DRIFTLINE_REGISTRY_URL" in text and "\n" not in text, text
    assert "db-pw" not in text


def test_a_refused_login_is_still_the_reason_after_many_disconnects():
    # A broker that refused a password drops the client's next attempts without saying why again.
    from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

    from driftline.kafka.clients import _capturing, explain

    settings = Settings(kafka_bootstrap="SASL_SSL://127.0.0.1:9093", kafka_sasl_mechanism="SCRAM-SHA-512",
                        kafka_sasl_username="alice", kafka_sasl_password="pw")
    log = logging.getLogger("kafka.net.manager")
    with _capturing() as captured:
        log.error("Connection failed: %s", SaslAuthenticationFailedError("SaslAuthenticationFailedError: bad"))
        for _ in range(50):
            log.error("Connection failed: %s", KafkaConnectionError("socket disconnected"))
    assert len(captured.errors) == 21
    assert explain(settings, captured.errors, 15).startswith(
        "Kafka at 127.0.0.1:9093 refused the SASL SCRAM-SHA-512 login of user 'alice'")
    with _capturing() as captured:
        for _ in range(50):
            log.error("Connection failed: %s", KafkaConnectionError("socket disconnected"))
    assert explain(settings, captured.errors, 15).startswith("no Kafka broker answered")
