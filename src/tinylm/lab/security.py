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


# --- cross-site protection -------------------------------------------------------------------------
# A web page the learner happens to visit can make their browser send requests to the lab. Three guards
# stop it, each the way Jupyter's server and browsers' own rules do it:
#   Host           every request must name the lab by a host it really has (loopback names, the bind
#                  address): a DNS-rebinding page (evil.example resolving to 127.0.0.1) sends its own name.
#   Origin         a state-changing request (POST, PUT, PATCH, DELETE) whose Origin is not the lab's own, or
#                  whose Sec-Fetch-Site says cross-site/same-site, is refused; so is any API request a
#                  browser marks as coming from another site.
#   Content-Type   requests with a body: JSON routes take only application/json, uploads only application/octet-stream: a
#                  cross-site page can send neither without a CORS preflight, which the lab never grants.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def host_name(value: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:80' -> '::1', 'LOCALHOST.' -> 'localhost'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class HostPolicy:
    """Which Host names the lab answers to.

    On loopback: the loopback names only. Bound to a named address: that name too. Bound to every
    interface (0.0.0.0): any IP literal as well, since learners reach it by the machine's address; there a
    token is required, and a rebinding page cannot have it (the cookie belongs to the lab's own host)."""

    def __init__(self, bind_host: str = "127.0.0.1", extra: tuple[str, ...] = ()) -> None:
        self.names = set(LOOPBACK_NAMES) | {host_name(h) for h in extra if h}
        self.any_ip = bind_host in WILDCARD_HOSTS
        if not self.any_ip:
            self.names.add(host_name(bind_host))

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = host_name(host_header)
        return name in self.names or is_loopback(name) or (self.any_ip and _is_ip(name))


def cross_site_refusal(method: str, path: str, headers: dict[str, str], policy: HostPolicy) -> str | None:
    """Why this request must be refused as cross-site (None: it may go on). ``headers``: lower-cased names."""
    host = headers.get("host")
    if not policy.allows(host):
        return (f"this lab does not answer to the host name {host_name(host or '')!r}: open it at the address "
                "`tinylm lab` printed")
    fetch_site = headers.get("sec-fetch-site", "")
    api = path.startswith("/api/")
    if fetch_site in ("cross-site", "same-site") and (api or method in UNSAFE_METHODS):
        return "requests from other web sites are refused"
    if method not in UNSAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        scheme_host = origin.split("://", 1)
        if len(scheme_host) != 2 or scheme_host[1].rstrip("/").lower() != host.strip().lower():
            return "requests from other web sites are refused (the Origin is not this lab's)"
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    wanted = "application/octet-stream" if path.startswith("/api/uploads/") else "application/json"
    if api and method != "DELETE" and content_type != wanted:   # DELETE carries no body
        return f"this request needs Content-Type: {wanted}"
    return None


class SiteGuard:
    """Pure ASGI middleware (event streams stay unbuffered) applying ``cross_site_refusal`` to every request."""

    def __init__(self, app, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        reason = cross_site_refusal(method, scope.get("path", ""), headers, self.policy)
        if reason is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4403})
        from starlette.responses import JSONResponse
        return await JSONResponse({"error": reason}, status_code=403)(scope, receive, send)
