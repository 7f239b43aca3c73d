"""Who may read the dashboard: loopback only without a token, anyone with the token otherwise.

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, True, False)
>>> check_bind("0.0.0.0", "")
Traceback (most recent call last):
...
driftline.exceptions.SettingsError: driftline ui would listen on 0.0.0.0, beyond loopback, without a token: set DRIFTLINE_UI_TOKEN (or DRIFTLINE_UI_TOKEN_FILE), or bind to 127.0.0.1
>>> check_bind("0.0.0.0", "s3cret-s3cret-s3cret") is None
True
>>> authorized("tok", "Bearer tok", None), authorized("tok", None, "tok"), authorized("tok", "Bearer x", None)
(True, True, False)
>>> authorized("", None, None)  # no token configured: loopback only, open
True
"""

from __future__ import annotations

import hmac
import ipaddress

from driftline.exceptions import SettingsError
from driftline.settings import ENV, FILE_SUFFIX


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def check_bind(host: str, token: str) -> None:
    """Raise a one-line :class:`SettingsError` for a bind beyond loopback without a token."""
    if not token and not is_loopback(host):
        var = ENV["ui_token"]
        raise SettingsError(f"driftline ui would listen on {host}, beyond loopback, without a token: "
                            f"set {var} (or {var}{FILE_SUFFIX}), or bind to 127.0.0.1")


def authorized(token: str, authorization: str | None, query_token: str | None) -> bool:
    """Whether a request may read: no token configured, or the token given (compared in constant time).

    The token comes as ``Authorization: Bearer <token>`` or as ``?token=<token>``
    (the form a browser's address bar can carry).
    """
    if not token:
        return True
    given = ""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
    if not given and query_token:
        given = query_token
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))
