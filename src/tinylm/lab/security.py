"""Access control for the lab server.

On a loopback host the lab is open (like a local notebook). On any other host a token is required,
generated when not given and printed in the URL (Jupyter-style). Every HTTP request and every event
stream must then carry it: ``?token=...`` in the URL, an ``Authorization: Bearer ...`` header, or the
``tinylm_token`` cookie that the page receives when it is first opened with the token in its URL.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets

from ..errors import ConfigError

COOKIE_NAME = "tinylm_token"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def resolve_token(host: str, token: str | None) -> str | None:
    """The token the server will require: None on loopback without one, generated off-loopback."""
    if token is not None and token != "":
        if len(token) < 8:
            raise ConfigError("the lab token must be at least 8 characters long")
        return token
    return None if is_loopback(host) else new_token()


def token_matches(expected: str, given: str | None) -> bool:
    # constant-time comparison so the token cannot be guessed character by character
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def token_from(query: dict, headers: dict, cookies: dict) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return query.get("token") or cookies.get(COOKIE_NAME)
