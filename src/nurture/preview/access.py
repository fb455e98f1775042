"""Who may open ``/preview/``: the machine itself, or whoever has the API key.

The preview shows every email with a sample lead's data and the sender's details: not secret,
but not for everyone. From localhost it is open, unless the request came through a proxy (a
reverse proxy on the same machine makes every visitor look local; its headers give it away).
From anywhere else it takes ``NURTURE_API_KEY``: as ``Authorization: Bearer <key>``, or once
as ``?key=<key>``, which sets a cookie with an HMAC of the key (the key itself never sits in
a browser) and redirects to the same URL without the key (out of the history and the logs).
"""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum
from ipaddress import IPv6Address, ip_address

from fastapi import Request
from pydantic import SecretStr

from nurture.web.auth import bearer_authorised

COOKIE = "nurture_preview"
# Headers a reverse proxy adds: with any of them the client address is the proxy's.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class Access(Enum):
    LOCAL = "local"  # from this machine, not through a proxy
    KEY = "key"  # the bearer key or the cookie
    NEW_KEY = "new_key"  # a right ?key=: set the cookie and redirect
    WRONG_KEY = "wrong_key"  # a ?key=, bearer or cookie that does not match
    REFUSED = "refused"  # nothing given, not local

    @property
    def allowed(self) -> bool:
        return self in (Access.LOCAL, Access.KEY)


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8 or ::1 (also as ::ffff:127.0.0.1); a name (or nothing) is not."""
    if not host:
        return False
    try:
        address = ip_address(host)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def proxied(request: Request) -> bool:
    return any(name in request.headers for name in PROXY_HEADERS)


def cookie_value(key: SecretStr) -> str:
    """What the cookie holds: an HMAC of the key, so a stolen cookie does not give the key
    (which also opens the CRM API), and a new key ends every old cookie."""
    return hmac.new(key.get_secret_value().encode(), b"nurture-preview", hashlib.sha256).hexdigest()


def _matches(given: str, key: SecretStr) -> bool:
    wanted = key.get_secret_value()
    return bool(wanted) and hmac.compare_digest(given.encode(), wanted.encode())


def access(request: Request, key: SecretStr) -> Access:
    """Whether ``request`` may see the preview (see the module's docstring)."""
    has_key = bool(key.get_secret_value())
    given = request.query_params.get("key")
    if given is not None:
        return Access.NEW_KEY if _matches(given, key) else Access.WRONG_KEY
    if bearer_authorised(request, key):
        return Access.KEY
    cookie = request.cookies.get(COOKIE)
    if (
        cookie is not None
        and has_key
        and hmac.compare_digest(cookie.encode(), cookie_value(key).encode())
    ):
        return Access.KEY
    if is_loopback(request.client.host if request.client else None) and not proxied(request):
        return Access.LOCAL
    if "authorization" in request.headers or (cookie is not None and has_key):
        return Access.WRONG_KEY
    return Access.REFUSED
