"""Who may open ``/preview/``: the machine itself, or whoever has the API key.

The preview shows every email with a sample lead's data and the sender's details: not secret,
but not for everyone. Without a key it opens only for a browser on this machine: a loopback
peer, a loopback ``Host`` (else a DNS-rebinding page, or a TCP proxy passing the public name
through, would count as local), HTTP/1.1 or later (nginx's bare ``proxy_pass`` speaks 1.0 and
sends ``Host: 127.0.0.1``), and none of the headers a proxy adds. Everyone else needs
``NURTURE_API_KEY``: as ``Authorization: Bearer <key>``, or typed once into the sign-in form
of the 403 page (``POST /preview/key``), which sets a cookie with an HMAC of the key (the key
itself never sits in a browser, nor in a URL, which access logs keep).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import Enum
from ipaddress import IPv6Address, ip_address
from urllib.parse import urlsplit

from fastapi import Request
from pydantic import SecretStr

from nurture.web.auth import bearer_authorised

COOKIE = "nurture_preview"
# Headers proxies and CDNs add: with any of them the client address is the proxy's.
PROXY_HEADERS = (
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "via",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "fastly-client-ip",
)
# A Host header: a name or IPv4 address, or a bracketed IPv6 address; an optional port.
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[^:\[\]]+))(?::\d{1,5})?$")
DEFAULT_NEXT = "/preview/"


class Access(Enum):
    LOCAL = "local"  # a browser on this machine, not through a proxy
    KEY = "key"  # the bearer key or the cookie
    KEY_IN_URL = "key_in_url"  # a ?key= (the old way): refused, it lands in access logs
    WRONG_KEY = "wrong_key"  # a bearer or cookie that does not match
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


def loopback_host(header: str | None) -> bool:
    """A ``Host`` header naming this machine: ``localhost``, 127.x.x.x or ``[::1]``, with or
    without a port. Any other name may resolve to 127.0.0.1 only for the moment (rebinding)."""
    found = _HOST.match((header or "").strip())
    if found is None:
        return False
    if found["v6"] is not None:
        return is_loopback(found["v6"])
    name = found["name"].lower()
    return name == "localhost" or ("." in name and is_loopback(name))


def proxied(request: Request) -> bool:
    return any(name in request.headers for name in PROXY_HEADERS)


def local(request: Request) -> bool:
    """A browser on this machine, talking to nurture directly (see the module's docstring)."""
    return (
        is_loopback(request.client.host if request.client else None)
        and loopback_host(request.headers.get("host"))
        and request.scope.get("http_version", "1.1") != "1.0"
        and not proxied(request)
    )


def cookie_value(key: SecretStr) -> str:
    """What the cookie holds: an HMAC of the key, so a stolen cookie does not give the key
    (which also opens the CRM API), and a new key ends every old cookie."""
    return hmac.new(key.get_secret_value().encode(), b"nurture-preview", hashlib.sha256).hexdigest()


def key_matches(given: str, key: SecretStr) -> bool:
    """``given`` is the key, compared in constant time; never with an empty key."""
    wanted = key.get_secret_value()
    return bool(wanted) and hmac.compare_digest(given.encode(), wanted.encode())


def same_origin(request: Request, base_url: str) -> bool:
    """The sign-in form's POST came from our own page, or from no page that says: a present
    ``Origin`` (``null`` too) must be this server's, as the request's ``Host`` or
    ``NURTURE_BASE_URL`` names it (a proxy may rewrite ``Host``, or end TLS in front)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    base = urlsplit(base_url)
    if origin.lower() == f"{base.scheme}://{base.netloc}".lower():
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def safe_next(target: str | None) -> str:
    """Where the sign-in form sends the browser: a path of the preview, else its index.
    No scheme, no ``//`` (another host), no backslash (browsers read it as ``/``), nothing
    outside printable ASCII: never away from this server."""
    if (
        target
        and target.startswith("/preview")
        and "//" not in target
        and "\\" not in target
        and all("!" <= c <= "~" for c in target)
    ):
        return target
    return DEFAULT_NEXT


def access(request: Request, key: SecretStr) -> Access:
    """Whether ``request`` may see the preview (see the module's docstring)."""
    if "key" in request.query_params:
        return Access.KEY_IN_URL
    has_key = bool(key.get_secret_value())
    if bearer_authorised(request, key):
        return Access.KEY
    cookie = request.cookies.get(COOKIE)
    if (
        cookie is not None
        and has_key
        and hmac.compare_digest(cookie.encode(), cookie_value(key).encode())
    ):
        return Access.KEY
    if local(request):
        return Access.LOCAL
    if "authorization" in request.headers or (cookie is not None and has_key):
        return Access.WRONG_KEY
    return Access.REFUSED
