"""Keeping secrets out of everything driftline prints: reprs, URLs, log records.

:class:`Secret` holds a password in the settings and shows as ``***``;
:func:`mask_url` hides the password of a database URL; :func:`redact_logs`
makes every log record of the process (driftline's and every library's, at
any level, tracebacks included) replace the given secret values by ``***``
before any handler sees it.

>>> s = Secret("hunter2")
>>> s, str(s), s.reveal(), bool(Secret(""))
(Secret('***'), '***', 'hunter2', False)
>>> mask_url("postgresql+psycopg://app:hunter2@db:5432/registry")
'postgresql+psycopg://app:***@db:5432/registry'
>>> mask_url("sqlite:////var/lib/driftline/registry.db")
'sqlite:////var/lib/driftline/registry.db'
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"


class Secret:
    """A string that does not show itself: ``repr`` and ``str`` are ``***``; :meth:`reveal` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        object.__setattr__(self, "_value", str(value))

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self):  # pickles (for child processes) as itself
        return (Secret, (self._value,))


class MaskedStr(str):
    """The secret itself, as the ``str`` a client library needs, whose ``repr`` is ``'***'``.

    Libraries that log their configuration at debug level (kafka-python's
    admin client does) format it with ``repr``.

    >>> conf = {"sasl_plain_password": MaskedStr("hunter2")}
    >>> conf, conf["sasl_plain_password"].encode()
    ({'sasl_plain_password': '***'}, b'hunter2')
    """

    def __repr__(self) -> str:
        return repr(MASK)


# Any query parameter whose name holds one of these words (libpq's sslpassword too).
_QUERY_SECRET = re.compile(r"(?i)(?<=[?&;])([^=&;?]*(?:password|passwd|pwd|secret|token)[^=&;]*)=([^&;\s]*)")


def mask_url(url: str) -> str:
    """``url`` with its password, and password-like query parameters, shown as ``***``.

    >>> mask_url("mysql+pymysql://root:p%40ss@h/db?charset=utf8&password=x")
    'mysql+pymysql://root:***@h/db?charset=utf8&password=***'
    >>> mask_url("postgresql://u:unescaped@at@h/db")
    'postgresql://u:***@h/db'
    >>> mask_url("notaurl")
    'notaurl'
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        # The host follows the last '@' of the authority: a password may hold '@' unescaped.
        slash = rest.find("/", rest.rfind("@") + 1) if "@" in rest else -1
        authority, path = (rest, "") if slash == -1 else (rest[:slash], rest[slash:])
        at = authority.rfind("@")
        if at != -1 and ":" in authority[:at]:
            user = authority[:at].split(":", 1)[0]
            authority = f"{user}:{MASK}{authority[at:]}"
        url = f"{scheme}://{authority}{path}"
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", url)


def url_password(url: str) -> str:
    """The password in a URL's authority, decoded, or ``""``.

    >>> url_password("postgresql://u:p%40ss@h/db"), url_password("sqlite:///x.db")
    ('p@ss', '')
    """
    _, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return ""
    slash = rest.find("/", rest.rfind("@") + 1)
    authority = rest if slash == -1 else rest[:slash]
    creds = authority[:authority.rfind("@")]
    return unquote(creds.split(":", 1)[1]) if ":" in creds else ""


def variants(secret: str) -> set[str]:
    """The forms a secret may take in text: as is, and percent-encoded (in URLs)."""
    if not secret:
        return set()
    return {secret, quote(secret, safe=""), quote_plus(secret)}


class _Redactor:
    def __init__(self, previous) -> None:
        self.previous = previous
        self.secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if not self.secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging does
            return record
        masked = self.scrub(message)
        if masked != message:
            args = record.args if isinstance(record.args, tuple) else ()
            # Kept for filters that look at a record's exceptions (driftline.kafka.clients).
            record.exceptions = [a for a in args if isinstance(a, BaseException)]
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return record


def scrub(text: str) -> str:
    """``text`` with every secret given to :func:`redact_logs` so far shown as ``***``.

    For what a program prints itself (an error line), not through logging.
    """
    factory = logging.getLogRecordFactory()
    return factory.scrub(text) if isinstance(factory, _Redactor) else text


def redact_logs(secrets: Iterable[str]) -> None:
    """From now on, every log record of this process shows ``***`` for each of ``secrets``.

    Installed as the log-record factory, so it holds whatever handlers and
    formatters a library sets up later (faust's worker sets up its own).
    Calling it again adds secrets.

    >>> import io
    >>> stream = io.StringIO()
    >>> logger = logging.getLogger("driftline.redact.example")
    >>> logger.addHandler(logging.StreamHandler(stream)); logger.propagate = False
    >>> redact_logs(["hunter2"])
    >>> logger.warning("connecting with password=%s", "hunter2")
    >>> stream.getvalue()
    'connecting with password=***\\n'
    """
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _Redactor):
        factory = _Redactor(factory)
        logging.setLogRecordFactory(factory)
    for secret in secrets:
        factory.secrets |= variants(secret)
