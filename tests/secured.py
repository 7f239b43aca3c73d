"""A local broker whose only client listener is SASL_SSL (SCRAM, keytool keystore, 127.0.0.1)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from driftline.broker import LocalBroker, free_port
from driftline.kafka.security import ListenerSecurity

USER = "alice"


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    cafile: str
    password: str
    data_dir: Path

    def env(self, password: str | None = None, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """The DRIFTLINE_* variables a client of this broker sets."""
        return {"DRIFTLINE_KAFKA_BOOTSTRAP": f"SASL_SSL://{self.bootstrap}",
                "DRIFTLINE_KAFKA_SASL_MECHANISM": mechanism,
                "DRIFTLINE_KAFKA_SASL_USERNAME": USER,
                "DRIFTLINE_KAFKA_SASL_PASSWORD": self.password if password is None else password,
                "DRIFTLINE_KAFKA_SSL_CAFILE": self.cafile}


@contextlib.contextmanager
def sasl_ssl_broker() -> Iterator[SecuredBroker]:
    data = Path(tempfile.mkdtemp(prefix="driftline-test-sasl-"))
    # Characters a password may hold and URLs or JAAS files must escape.
    password = f"pw-{secrets.token_hex(6)}@%+/ 1"
    broker = LocalBroker(data, port=free_port(), security=ListenerSecurity(users={USER: password}))
    try:
        broker.start()
        yield SecuredBroker(broker.bootstrap, str(data / "tls" / "ca.pem"), password, data)
    finally:
        broker.stop()
        shutil.rmtree(data, ignore_errors=True)
