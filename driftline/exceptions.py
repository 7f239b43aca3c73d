"""The exception root of driftline; every package raises subclasses of :class:`DriftlineError`."""


class DriftlineError(Exception):
    """Base of every error driftline raises on purpose."""


class SettingsError(DriftlineError, ValueError):
    """A ``DRIFTLINE_*`` variable or a CLI option has a value that cannot be used."""


class InvalidEvent(DriftlineError, ValueError):
    """A message that does not follow wire contract v1; ``str(exc)`` is the reason."""


class BrokerUnavailable(DriftlineError):
    """No Kafka broker answered at the configured bootstrap address."""


class BrokerError(DriftlineError):
    """The local broker could not be installed, started or stopped."""


class KafkaSecurityError(DriftlineError):
    """A Kafka broker answered but refused the connection: TLS certificate, SASL login, token."""


class StateDecodeError(DriftlineError, ValueError):
    """Bytes on the monitor's state topic that are not a state record this code can read."""


class OutputRefused(DriftlineError):
    """The broker refused a record the monitor produced, for good (not a retriable error)."""
