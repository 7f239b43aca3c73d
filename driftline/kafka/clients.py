"""Every Kafka client's connection settings, built from :class:`~driftline.settings.Settings` in one place.

One function per client library; each gives the security protocol, the TLS
context (CA file, client certificate and key, host name checked unless
``DRIFTLINE_KAFKA_SSL_CHECK_HOSTNAME`` is off) and the SASL login (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512, or OAUTHBEARER with the token provider named by
``DRIFTLINE_KAFKA_SASL_OAUTH_TOKEN_PROVIDER``):

- :func:`kafka_python_options`: ``KafkaProducer``, ``KafkaConsumer``,
  ``KafkaAdminClient`` (or :func:`connect`, which also fails fast and in one line);
- :func:`aiokafka_options`: ``AIOKafkaConsumer``, ``AIOKafkaProducer``,
  ``AIOKafkaAdminClient`` (and :func:`start_aiokafka`, its one-line failures);
- :func:`ssl_context`: the TLS context all of them share.

>>> from driftline.settings import Settings
>>> kafka_python_options(Settings(kafka_bootstrap="a:9092,b:9092"))
{'bootstrap_servers': ['a:9092', 'b:9092'], 'security_protocol': 'PLAINTEXT'}
>>> opts = aiokafka_options(Settings(kafka_bootstrap="SASL_PLAINTEXT://a:9092",
...                                  kafka_sasl_mechanism="SCRAM-SHA-256",
...                                  kafka_sasl_username="svc", kafka_sasl_password="hunter2"))
>>> opts
{'bootstrap_servers': ['a:9092'], 'security_protocol': 'SASL_PLAINTEXT', 'sasl_mechanism': 'SCRAM-SHA-256', 'sasl_plain_username': 'svc', 'sasl_plain_password': '***'}
>>> opts["sasl_plain_password"] == "hunter2"
True
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from driftline.exceptions import BrokerUnavailable, KafkaSecurityError, SettingsError
from driftline.redact import MaskedStr
from driftline.settings import ENV, Settings

T = TypeVar("T")

# Something listens at the address (checked first): a TLS handshake and a SASL exchange
# with a busy or distant broker take seconds, a wrong protocol never answers.
CONNECT_TIMEOUT_S = 15.0
_TLS = ("SSL", "SASL_SSL")


# ------------------------------------------------------------------ TLS


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (``None`` otherwise); bad files raise :class:`SettingsError`.

    It verifies the broker's certificate against ``DRIFTLINE_KAFKA_SSL_CAFILE``
    (the system's CAs if unset) and, unless turned off, its host name.
    """
    if settings.kafka_security_protocol not in _TLS:
        return None
    cafile = settings.kafka_ssl_cafile or None
    try:
        ctx = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"{ENV['kafka_ssl_cafile']}: cannot load CA certificates from "
                            f"{cafile}: {_reason(exc)}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.kafka_ssl_certfile:
        password = settings.kafka_ssl_key_password.reveal()
        try:
            # Always a callable: for an encrypted key without one, OpenSSL would ask on the terminal.
            ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None,
                                password=lambda: password)
        except (OSError, ssl.SSLError) as exc:
            names = [ENV["kafka_ssl_certfile"]] + ([ENV["kafka_ssl_keyfile"]] if settings.kafka_ssl_keyfile
                                                   else [])
            hint = (f" (is {ENV['kafka_ssl_key_password']} right?)"
                    if "decrypt" in str(exc).lower() or "password" in str(exc).lower() else "")
            raise SettingsError(f"{' / '.join(names)}: cannot load the client certificate and key: "
                                f"{_reason(exc)}{hint}") from None
    ctx.check_hostname = settings.kafka_ssl_check_hostname
    return ctx


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# ------------------------------------------------------------------ OAUTHBEARER


class TokenProviderError(KafkaSecurityError):
    """The OAUTHBEARER token provider could not be loaded, raised, or returned no token."""


def load_token_provider(spec: str) -> Callable[[], str]:
    """The function ``package.module:function`` names; it returns an OAUTHBEARER token.

    >>> load_token_provider("driftline.nowhere:token")
    Traceback (most recent call last):
    ...
    driftline.exceptions.SettingsError: DRIFTLINE_KAFKA_SASL_OAUTH_TOKEN_PROVIDER 'driftline.nowhere:token': cannot import 'driftline.nowhere': No module named 'driftline.nowhere'
    """
    var = ENV["kafka_sasl_oauth_token_provider"]
    module_name, _, attr = spec.partition(":")
    try:
        found: Any = importlib.import_module(module_name.strip())
    except Exception as exc:
        raise SettingsError(f"{var} {spec!r}: cannot import {module_name.strip()!r}: {exc}") from None
    for part in attr.strip().split("."):
        if not hasattr(found, part):
            raise SettingsError(f"{var} {spec!r}: {module_name.strip()!r} has no {attr.strip()!r}")
        found = getattr(found, part)
    if not callable(found):
        raise SettingsError(f"{var} {spec!r} is not callable")
    return found


def _token_of(provider: Callable[[], str], spec: str) -> str:
    try:
        token = provider()
    except Exception as exc:
        raise TokenProviderError(f"the OAUTHBEARER token provider {spec} raised "
                                 f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(token, str) or not token:
        raise TokenProviderError(f"the OAUTHBEARER token provider {spec} returned "
                                 f"{type(token).__name__}, not a token string")
    return token


def _kafka_python_tokens(settings: Settings) -> Any:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    spec = settings.kafka_sasl_oauth_token_provider
    provider = load_token_provider(spec)

    class Tokens(AbstractTokenProvider):
        def token(self) -> str:
            return _token_of(provider, spec)

    return Tokens()


def _aiokafka_tokens(settings: Settings) -> Any:
    from aiokafka.abc import AbstractTokenProvider

    spec = settings.kafka_sasl_oauth_token_provider
    provider = load_token_provider(spec)

    class Tokens(AbstractTokenProvider):
        async def token(self) -> str:
            # A provider may block on the network (an identity provider): off the event loop.
            return await asyncio.get_running_loop().run_in_executor(None, _token_of, provider, spec)

    return Tokens()


# ------------------------------------------------------------------ per library


def _servers(settings: Settings) -> list[str]:
    return [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]


def _sasl(settings: Settings, tokens: Callable[[Settings], Any]) -> dict[str, Any]:
    mechanism = settings.kafka_sasl_mechanism
    if mechanism == "OAUTHBEARER":
        return {"sasl_mechanism": mechanism, "sasl_oauth_token_provider": tokens(settings)}
    return {"sasl_mechanism": mechanism, "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": MaskedStr(settings.kafka_sasl_password.reveal())}


def _options(settings: Settings, tokens: Callable[[Settings], Any]) -> dict[str, Any]:
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": _servers(settings), "security_protocol": protocol}
    if protocol in _TLS:
        options["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL_"):
        options.update(_sasl(settings, tokens))
    return options


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Connection settings for kafka-python's ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``."""
    return _options(settings, _kafka_python_tokens)


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Connection settings for aiokafka's ``AIOKafkaConsumer``, ``AIOKafkaProducer`` and ``AIOKafkaAdminClient``.

    ``AIOKafkaConsumer(*topics, **aiokafka_options(settings), group_id=...)``;
    start it with :func:`start_aiokafka` for one-line failures.
    """
    return _options(settings, _aiokafka_tokens)


# ------------------------------------------------------------------ failures in one line


class _Captured(logging.Filter):
    """Keeps the exceptions a client library logs while it bootstraps, and holds those records back.

    kafka-python and aiokafka log each failed bootstrap attempt (a refused
    password, a certificate not trusted) and then raise only a timeout.
    """

    def __init__(self, hold: bool = True) -> None:
        super().__init__()
        self.hold = hold
        self.errors: list[BaseException] = []

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        # driftline.redact keeps a record's exceptions aside when it masks its message.
        found = [a for a in (*args, *getattr(record, "exceptions", ())) if isinstance(a, BaseException)]
        if found:
            # The last few are enough to say why a long outage lasts, but a refused login or
            # certificate is said once and then followed by plain disconnects: those are kept.
            errors = [*self.errors, *found]
            recent = errors[-20:]
            self.errors = [e for e in errors[:-20] if _refusal(e)][-20:] + recent
        # Held back: a failed bootstrap logs each retry, at every layer; the caller's one line says why.
        return not self.hold


def _refusal(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a broker refusing the login or the TLS handshake."""
    return any(isinstance(e, (ssl.SSLError, TokenProviderError))
               or any(word in type(e).__name__ for word in ("Authentication", "UnsupportedSasl"))
               or "authentication failed" in str(e).lower() for e in _chain(exc))


# The two libraries' loggers: a filter applies to the records of its own logger only.
_LIBRARIES = ("kafka", "aiokafka")


@contextlib.contextmanager
def _capturing(hold: bool = True) -> Iterator[_Captured]:
    captured = _Captured(hold)
    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".", 1)[0] in _LIBRARIES] + list(_LIBRARIES)
    loggers = [logging.getLogger(name) for name in sorted(set(names))]
    for logger in loggers:
        logger.addFilter(captured)
    try:
        yield captured
    finally:
        for logger in loggers:
            logger.removeFilter(captured)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([e.__cause__, e.__context__, *[a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]])


def explain(settings: Settings, errors: list[BaseException], timeout_s: float | None = None) -> str:
    """One line saying why no broker at ``settings.kafka_bootstrap`` took the connection."""
    where = f"Kafka at {settings.kafka_bootstrap}"
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    for error in reversed(errors):
        for e in _chain(error):
            name, text = type(e).__name__, str(e)
            if isinstance(e, TokenProviderError):
                return f"{where}: {e}"
            if "SaslAuthenticationFailed" in name or "authentication failed" in text.lower() \
                    or "Authentication failed" in text:
                who = (f"the OAUTHBEARER token of {settings.kafka_sasl_oauth_token_provider}"
                       if mechanism == "OAUTHBEARER" else
                       f"user {settings.kafka_sasl_username!r} ({ENV['kafka_sasl_username']} / "
                       f"{ENV['kafka_sasl_password']})")
                return f"{where} refused the SASL {mechanism} login of {who}"
            if "UnsupportedSaslMechanism" in name:
                return f"{where} does not offer SASL {mechanism} ({ENV['kafka_sasl_mechanism']}): {text}"
            if isinstance(e, ssl.SSLCertVerificationError):
                hint = (f"; {ENV['kafka_ssl_check_hostname']}=false skips the host name check"
                        if "hostname" in (e.verify_message or "").lower() or "IP address" in text else
                        f"; is {ENV['kafka_ssl_cafile']} the CA that signed it?")
                return f"{where}: its TLS certificate is not trusted ({e.verify_message}){hint}"
            if isinstance(e, ssl.SSLError):
                reason = _reason(e)
                if "WRONG_VERSION_NUMBER" in reason.upper() or "record layer" in reason.lower():
                    return (f"{where} does not speak TLS there: is {ENV['kafka_security_protocol']} "
                            f"({protocol}) the listener's protocol?")
                return f"{where}: the TLS handshake failed ({reason})"
    hint = f"; does the listener expect another {ENV['kafka_security_protocol']} than {protocol}?"
    within = "" if timeout_s is None else f" within {timeout_s:g} s"
    if protocol.startswith("SASL_") and mechanism != "OAUTHBEARER":
        # A broker may close a refused login without an answer, so the password is a suspect too.
        return (f"no Kafka broker answered at {settings.kafka_bootstrap}: something listens there but no "
                f"SASL {mechanism} login of user {settings.kafka_sasl_username!r} over {protocol} finished"
                f"{within}; is {ENV['kafka_sasl_password']} right, or does the listener expect another "
                f"{ENV['kafka_security_protocol']} than {protocol}?")
    return (f"no Kafka broker answered at {settings.kafka_bootstrap}: something listens there but did "
            f"not answer as Kafka with {protocol}{within}{hint}")


def connect(cls: type[T], settings: Settings, *, timeout: float = CONNECT_TIMEOUT_S, wait_s: float = 0.0,
            **config: Any) -> T:
    """``cls(**config)`` for a kafka-python producer, consumer or admin client, connected per ``settings``.

    Raises :class:`BrokerUnavailable` if nothing listens at the bootstrap
    address (after waiting up to ``wait_s`` for something to) or nothing
    answers as Kafka within ``timeout``, and :class:`KafkaSecurityError` if
    the broker refuses the TLS handshake or the login; either in one line.
    """
    import kafka.errors
    from kafka.net.compat import KafkaNetClient

    from driftline.kafka_admin import require_broker

    # With wait_s 0, one round of TCP attempts: a client started before its broker says so at once.
    require_broker(settings.kafka_bootstrap, timeout_s=wait_s)
    made: list[KafkaNetClient] = []

    def client(**kw: Any) -> KafkaNetClient:
        # Kept so the network client can be closed if the constructor fails: kafka-python
        # leaves the sockets of refused connections open otherwise.
        net = KafkaNetClient(**kw)
        made.append(net)
        return net

    with _capturing() as captured:
        try:
            return cls(**kafka_python_options(settings), bootstrap_timeout_ms=int(timeout * 1000),
                       kafka_client=client, **config)
        except kafka.errors.KafkaTimeoutError as exc:
            for net in made:
                net.close()
            message = explain(settings, captured.errors, timeout)
            if message.startswith("no Kafka") and settings.kafka_security_protocol.startswith("SASL_"):
                message = _second_opinion(settings) or message
            raise (BrokerUnavailable if message.startswith("no Kafka") else KafkaSecurityError)(message) \
                from exc


def _second_opinion(settings: Settings) -> str | None:
    """Why aiokafka cannot log in either, if it can say; ``None`` if it can or cannot say why.

    kafka-python drops the bytes of a read that also finds the connection
    closed, so a broker that answers a refused login and closes at once
    looks to it like a plain disconnect. aiokafka reads the answer first.
    """
    from aiokafka import AIOKafkaProducer

    async def probe() -> str | None:
        producer = AIOKafkaProducer(**aiokafka_options(settings),
                                    request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))
        try:
            await start_aiokafka(producer, settings)
        except KafkaSecurityError as exc:
            return str(exc)
        except Exception:  # noqa: BLE001 - nothing better to say than the first answer
            return None
        await producer.stop()
        return None

    answer: list[str | None] = [None]
    # Its own thread: the caller may be inside an event loop already.
    thread = threading.Thread(target=lambda: answer.__setitem__(0, asyncio.run(probe())), daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 5)
    return answer[0]


async def start_aiokafka(client: Any, settings: Settings) -> None:
    """``await client.start()`` for an aiokafka client; a failed bootstrap raises one clear line.

    As :func:`connect`: :class:`BrokerUnavailable` or :class:`KafkaSecurityError`.
    """
    from aiokafka.errors import KafkaConnectionError

    with _capturing() as captured:
        try:
            await client.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await client.stop()
            if not isinstance(exc, KafkaConnectionError):
                raise
            if not captured.errors:
                captured.errors.append(exc)
            message = explain(settings, captured.errors)
            if message.startswith("no Kafka") and all(isinstance(e, OSError) for e in captured.errors):
                message = (f"no Kafka broker answered at {settings.kafka_bootstrap}; start one with "
                           "'driftline broker start' or set DRIFTLINE_KAFKA_BOOTSTRAP")
            raise (BrokerUnavailable if message.startswith("no Kafka") else KafkaSecurityError)(message) \
                from exc


@contextlib.contextmanager
def failures_explained(settings: Settings) -> Iterator[None]:
    """Around a long-running aiokafka client: its failure to connect becomes one clear line.

    aiokafka's ``KafkaConnectionError`` leaving the block is raised again as
    :class:`BrokerUnavailable` or :class:`KafkaSecurityError`, saying why from
    what the library logged (which still reaches the log).
    """
    from aiokafka.errors import KafkaConnectionError

    with _capturing(hold=False) as captured:
        try:
            yield
        except KafkaConnectionError as exc:
            message = explain(settings, captured.errors or [exc])
            raise (BrokerUnavailable if message.startswith("no Kafka") else KafkaSecurityError)(message) \
                from None
