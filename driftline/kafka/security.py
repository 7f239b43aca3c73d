"""TLS and SASL for the local broker: a CA and a keystore made with the JDK's ``keytool``,
the listener's properties, and its SCRAM users.

Everything lives in the broker's data folder, readable by its owner only:
``tls/ca.pem`` is the certificate clients trust (``DRIFTLINE_KAFKA_SSL_CAFILE``),
``tls/broker.p12`` the broker's key and its certificate for ``127.0.0.1`` and
``localhost``, signed by the CA, so clients check the host name as they do
against any production cluster. Passwords are made here and kept in
``secrets.json``; none is passed on a command line except the broker's own
inter-broker SCRAM user, at the first format.

>>> sec = ListenerSecurity(users={"alice": "pw"})
>>> sec.protocol, sec.mechanisms, sec.inter_broker_mechanism
('SASL_SSL', ('SCRAM-SHA-256', 'SCRAM-SHA-512'), 'SCRAM-SHA-512')
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from driftline.exceptions import BrokerError

BROKER_USER = "broker"
SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_KEYTOOL_TIMEOUT_S = 120


@dataclass(frozen=True)
class ListenerSecurity:
    """How the local broker's client listener authenticates.

    ``users`` get SCRAM credentials for both SCRAM mechanisms (and a PLAIN
    login if PLAIN is enabled). ``client_auth`` is Kafka's ``ssl.client.auth``:
    ``requested`` verifies a client certificate when one is presented.
    ``unsecured_oauth`` accepts unsigned OAUTHBEARER tokens (Kafka's
    built-in validator for development): for tests of a token provider, never
    for a broker others can reach.
    """

    protocol: str = "SASL_SSL"
    mechanisms: tuple[str, ...] = SCRAM
    users: dict[str, str] = field(default_factory=dict)
    client_auth: str = "none"
    unsecured_oauth: bool = False

    @property
    def inter_broker_mechanism(self) -> str:
        return "SCRAM-SHA-512"

    @property
    def listener(self) -> str:
        return self.protocol


def _private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(text)


def broker_secrets(data_dir: Path) -> dict[str, str]:
    """The local broker's own passwords (keystores, inter-broker user), made on first use."""
    path = data_dir / "secrets.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    made = {"store": secrets.token_urlsafe(24), "broker": secrets.token_urlsafe(24)}
    _private(path, json.dumps(made))
    return made


def _keytool(args: list[str], store_password: str) -> None:
    env = {**os.environ, "DRIFTLINE_KEYTOOL_PASS": store_password}
    try:
        done = subprocess.run(["keytool", *args], capture_output=True, text=True, env=env,
                              timeout=_KEYTOOL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise BrokerError("keytool not found: it comes with the JDK (Java 17), which the local "
                          "broker needs") from None
    if done.returncode != 0:
        raise BrokerError(f"keytool {args[0]} failed: {(done.stdout + done.stderr).strip()[-500:]}")


def make_tls(data_dir: Path) -> Path:
    """Make the CA, the broker's keystore and the truststore once; return the ``tls`` folder."""
    tls = data_dir / "tls"
    names = ("ca.p12", "ca.pem", "broker.p12", "truststore.p12")
    if all((tls / n).exists() for n in names):
        return tls
    tls.mkdir(parents=True, exist_ok=True)
    os.chmod(tls, 0o700)
    for n in names + ("broker.csr", "broker.crt"):
        (tls / n).unlink(missing_ok=True)
    password = broker_secrets(data_dir)["store"]
    pw = ["-storepass:env", "DRIFTLINE_KEYTOOL_PASS", "-keypass:env", "DRIFTLINE_KEYTOOL_PASS"]
    store = lambda name: ["-keystore", str(tls / name), "-storetype", "PKCS12"]  # noqa: E731
    days = ["-validity", "3650"]
    _keytool(["-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname",
              "CN=driftline local broker CA", "-ext", "bc:c", "-ext", "KU=keyCertSign,cRLSign",
              *days, *store("ca.p12"), *pw], password)
    _keytool(["-exportcert", "-rfc", "-alias", "ca", "-file", str(tls / "ca.pem"),
              *store("ca.p12"), "-storepass:env", "DRIFTLINE_KEYTOOL_PASS"], password)
    _keytool(["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-dname",
              "CN=localhost", *days, *store("broker.p12"), *pw], password)
    _keytool(["-certreq", "-alias", "broker", "-file", str(tls / "broker.csr"),
              *store("broker.p12"), "-storepass:env", "DRIFTLINE_KEYTOOL_PASS"], password)
    _keytool(["-gencert", "-alias", "ca", "-infile", str(tls / "broker.csr"), "-outfile",
              str(tls / "broker.crt"), "-rfc", *days, "-ext", "SAN=ip:127.0.0.1,dns:localhost",
              "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth,clientAuth",
              *store("ca.p12"), "-storepass:env", "DRIFTLINE_KEYTOOL_PASS"], password)
    for alias, name in (("ca", "ca.pem"), ("broker", "broker.crt")):
        _keytool(["-importcert", "-noprompt", "-alias", alias, "-file", str(tls / name),
                  *store("broker.p12"), "-storepass:env", "DRIFTLINE_KEYTOOL_PASS"], password)
    _keytool(["-importcert", "-noprompt", "-alias", "ca", "-file", str(tls / "ca.pem"),
              *store("truststore.p12"), "-storepass:env", "DRIFTLINE_KEYTOOL_PASS"], password)
    for n in ("broker.csr", "broker.crt"):
        (tls / n).unlink(missing_ok=True)
    for n in names:
        os.chmod(tls / n, 0o600 if n != "ca.pem" else 0o644)
    return tls


def _jaas(module: str, **options: str) -> str:
    quoted = " ".join(f'{k}="{v}"' for k, v in options.items())
    return f"{module} required {quoted};".replace("  ", " ")


def listener_properties(security: ListenerSecurity, data_dir: Path) -> dict[str, str]:
    """server.properties entries for a client listener named after its protocol."""
    tls = make_tls(data_dir)
    own = broker_secrets(data_dir)
    name = security.listener.lower()
    props = {
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls / "broker.p12"),
        "ssl.keystore.password": own["store"],
        "ssl.key.password": own["store"],
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(tls / "truststore.p12"),
        "ssl.truststore.password": own["store"],
        # Listener-prefixed: the broker-wide option applies to SSL listeners only.
        f"listener.name.{name}.ssl.client.auth": security.client_auth,
    }
    if not security.protocol.startswith("SASL_"):
        return props
    props["sasl.enabled.mechanisms"] = ",".join(security.mechanisms)
    props["sasl.mechanism.inter.broker.protocol"] = security.inter_broker_mechanism
    broker_login = {"username": BROKER_USER, "password": own["broker"]}
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    for mechanism in SCRAM:
        login = broker_login if mechanism == security.inter_broker_mechanism else {}
        props[f"listener.name.{name}.{mechanism.lower()}.sasl.jaas.config"] = _jaas(scram, **login)
    if "PLAIN" in security.mechanisms:
        users = {f"user_{u}": p for u, p in {BROKER_USER: own["broker"], **security.users}.items()}
        props[f"listener.name.{name}.plain.sasl.jaas.config"] = _jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule", **broker_login, **users)
    if "OAUTHBEARER" in security.mechanisms:
        if not security.unsecured_oauth:
            raise BrokerError("the local broker validates OAUTHBEARER tokens only with "
                              "unsecured_oauth (for tests); use SCRAM")
        props[f"listener.name.{name}.oauthbearer.sasl.jaas.config"] = _jaas(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
            unsecuredLoginStringClaim_sub=BROKER_USER)
    return props


def format_scram_args(data_dir: Path) -> list[str]:
    """StorageTool format arguments that create the inter-broker SCRAM user."""
    return ["--add-scram", f"SCRAM-SHA-512=[name={BROKER_USER},password={broker_secrets(data_dir)['broker']}]"]


def upsert_users(bootstrap: str, data_dir: Path, users: dict[str, str]) -> None:
    """Create or update the SCRAM users (both mechanisms), logged in as the broker's own user."""
    from kafka import KafkaAdminClient
    from kafka.admin._users import UserScramCredentialUpsertion

    from driftline.kafka.clients import connect
    from driftline.settings import Settings

    if not users:
        return
    own = Settings(kafka_bootstrap=bootstrap, kafka_security_protocol="SASL_SSL",
                   kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=BROKER_USER,
                   kafka_sasl_password=broker_secrets(data_dir)["broker"],
                   kafka_ssl_cafile=str(data_dir / "tls" / "ca.pem"))
    admin = connect(KafkaAdminClient, own, timeout=30.0, client_id="driftline-broker-setup")
    try:
        # One request per mechanism: Kafka refuses two alterations of one user in a request.
        for mechanism in SCRAM:
            errors = admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(user, mechanism, password) for user, password in users.items()])
            failed = {user: error for user, error in errors.items() if error}
            if failed:
                raise BrokerError(f"could not set the {mechanism} credentials of "
                                  + ", ".join(f"{u} ({e})" for u, e in failed.items()))
    finally:
        admin.close()
