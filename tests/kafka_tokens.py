"""OAUTHBEARER token providers for the tests: unsigned tokens, which the local test broker accepts."""

from __future__ import annotations

import base64
import json
import time


def _part(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def unsecured_token(subject: str = "alice") -> str:
    """An unsigned JWT (``alg: none``) for ``subject``, valid for an hour."""
    now = int(time.time())
    return f"{_part({'alg': 'none'})}.{_part({'sub': subject, 'iat': now, 'exp': now + 3600})}."


def alice() -> str:
    return unsecured_token("alice")


def broken() -> str:
    raise RuntimeError("the identity provider is down (simulated)")
