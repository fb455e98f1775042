"""Who may open /preview/: a browser on this machine talking to nurture directly (loopback
peer and Host, no proxy header), else the API key: a bearer header, or the 403 page's sign-in
form (POST /preview/key), which leaves a cookie with an HMAC of the key. Never ?key=."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html import unescape

import httpx
import pytest
from pydantic import SecretStr

from nurture.app import create_app
from nurture.preview.access import (
    COOKIE,
    PROXY_HEADERS,
    cookie_value,
    is_loopback,
    loopback_host,
    safe_next,
)
from nurture.settings import Settings

KEY = "preview-key-123"
REMOTE = ("203.0.113.7", 40000)
LOCAL = ("127.0.0.1", 40000)
LOCAL_URL = "http://127.0.0.1:8000"
FORM = {"content-type": "application/x-www-form-urlencoded"}

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client(settings: Settings) -> Client:
    """A client of the app seen from ``peer``, with ``key`` as NURTURE_API_KEY; ``url``: the
    address it uses (its Host header), NURTURE_BASE_URL (http://nurture.test) by default."""

    @asynccontextmanager
    async def make(
        peer: tuple[str, int] = REMOTE, key: str = KEY, url: str | None = None
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update={"api_key": SecretStr(key)}))
        transport = httpx.ASGITransport(app=app, client=peer)
        base = url or settings.base_url
        async with httpx.AsyncClient(transport=transport, base_url=base) as c:
            yield c

    return make


def refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 403
        and response.headers["content-type"].startswith("text/html")
        and "No access to the preview" in response.text
        and "Test-Nurture" not in response.text  # nothing of the preview itself
    )


def form_next(page: str) -> str | None:
    """The sign-in form's hidden ``next``, None without a form."""
    if 'action="/preview/key"' not in page:
        return None
    found = re.search(r'<input type="hidden" name="next" value="([^"]*)">', page)
    assert found is not None
    return unescape(found[1])


@pytest.mark.parametrize(
    ("peer", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
        ("127.0.0.2", "http://127.0.0.2"),
        ("127.0.0.1", "http://localhost:8000"),
        ("127.0.0.1", "http://LOCALHOST"),
    ],
)
async def test_this_machine_sees_it_without_a_key(client: Client, peer: str, url: str) -> None:
    async with client((peer, 5000), url=url) as c:
        response = await c.get("/preview/")
    assert response.status_code == 200
    assert "<h1>Preview</h1>" in response.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example"])
async def test_a_rebinding_name_from_localhost_is_refused(client: Client, host: str) -> None:
    """A page on evil.example whose name now resolves to 127.0.0.1: the browser sends its
    own name as Host (and a TCP proxy passes the public name through)."""
    async with client(LOCAL, url=LOCAL_URL) as c:
        response = await c.get("/preview/", headers={"Host": host})
        assert refused(response)
        keyed = await c.get("/preview/", headers={"Host": host, "Authorization": f"Bearer {KEY}"})
    assert keyed.status_code == 200


@pytest.mark.parametrize("header", PROXY_HEADERS)
async def test_through_a_proxy_localhost_is_no_one_in_particular(
    client: Client, header: str
) -> None:
    assert len(PROXY_HEADERS) >= 11  # the brief's list: none went missing
    async with client(LOCAL, url=LOCAL_URL) as c:
        response = await c.get("/preview/", headers={header: "198.51.100.4"})
        assert refused(response)
        assert "NURTURE_API_KEY" in response.text
        # the key still opens it behind the proxy
        keyed = await c.get(
            "/preview/", headers={header: "198.51.100.4", "Authorization": f"Bearer {KEY}"}
        )
    assert keyed.status_code == 200


async def test_http_1_0_from_localhost_is_a_proxy(settings: Settings) -> None:
    """nginx's bare ``proxy_pass http://127.0.0.1:8000`` adds no header and sends
    ``Host: 127.0.0.1:8000``, but in HTTP/1.0, which no browser speaks any more."""
    app = create_app(settings.model_copy(update={"api_key": SecretStr(KEY)}))
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    for version, status in (("1.0", 403), ("1.1", 200)):
        sent.clear()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": version,
            "method": "GET",
            "scheme": "http",
            "path": "/preview/",
            "raw_path": b"/preview/",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000")],
            "client": LOCAL,
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        assert sent[0]["status"] == status, version


async def test_from_elsewhere_only_with_the_key(client: Client) -> None:
    async with client(REMOTE) as c:
        assert refused(await c.get("/preview/"))
        assert refused(await c.get("/preview/b2b-nurture"))
        assert refused(await c.get("/preview/b2b-nurture/welcome/de.html"))
        assert refused(await c.get("/preview/", headers={"Authorization": "Bearer wrong"}))
        assert refused(await c.get("/preview/", headers={"Authorization": KEY}))  # no scheme
        ok = await c.get("/preview/b2b-nurture", headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200
    assert "Test-Nurture" in ok.text


async def test_the_form_leaves_a_cookie_not_the_key(client: Client) -> None:
    async with client(REMOTE) as c:
        page = await c.get("/preview/b2b-nurture", params={"start": "2026-12-07"})
        assert refused(page)
        assert 'method="post" action="/preview/key"' in page.text
        assert 'type="password" name="key"' in page.text
        assert form_next(page.text) == "/preview/b2b-nurture?start=2026-12-07"
        # not no-referrer: under that a browser posts the form with "Origin: null"
        assert page.headers["referrer-policy"] == "same-origin"

        response = await c.post(
            "/preview/key", data={"key": KEY, "next": form_next(page.text) or ""}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/preview/b2b-nurture?start=2026-12-07"
        assert response.headers["cache-control"] == "no-store"
        cookie = response.headers["set-cookie"]
        assert KEY not in cookie
        assert cookie.startswith(f"{COOKIE}={cookie_value(SecretStr(KEY))};")
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/preview"} <= attributes
        assert "secure" not in attributes  # http://nurture.test: a browser would drop it

        page = await c.get(response.headers["location"])  # the client keeps the cookie
        assert page.status_code == 200
        assert "Mon 2026-12-07 00:00" in page.text  # ?start= survived the sign-in
        assert (await c.get("/preview/b2b-nurture/welcome/de.html")).status_code == 200

        c.cookies.set(COOKIE, "0" * 64, domain="nurture.test", path="/preview")
        stale = await c.get("/preview/")
        assert refused(stale)
        assert "That key or cookie is not" in stale.text


async def test_the_cookie_is_secure_under_https(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"api_key": SecretStr(KEY), "base_url": "https://crm.example"})
    )
    transport = httpx.ASGITransport(app=app, client=REMOTE)
    async with httpx.AsyncClient(transport=transport, base_url="https://crm.example") as c:
        response = await c.post(
            "/preview/key",
            data={"key": KEY, "next": "/preview/"},
            headers={"Origin": "https://crm.example"},
        )
    assert response.status_code == 303
    assert "secure" in {a.strip().lower() for a in response.headers["set-cookie"].split(";")}


async def test_a_wrong_key_in_the_form_shows_the_form_again(client: Client) -> None:
    async with client(REMOTE) as c:
        response = await c.post(
            "/preview/key", data={"key": "guess", "next": "/preview/b2b-nurture"}
        )
        empty = await c.post("/preview/key", data={"next": "/preview/"})
    for answer in (response, empty):
        assert refused(answer)
        assert "set-cookie" not in answer.headers
        assert "That is not NURTURE_API_KEY." in answer.text
    assert form_next(response.text) == "/preview/b2b-nurture"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/preview",
        "//evil.example/preview",
        "/preview//evil.example",
        "/preview\\..\\\\evil.example",
        "/\\evil.example",
        "/elsewhere",
        "/preview/\r\nSet-Cookie: x=1",
        "",
    ],
)
async def test_the_form_goes_only_to_the_preview(client: Client, target: str) -> None:
    assert safe_next(target) == "/preview/"
    async with client(REMOTE) as c:
        response = await c.post("/preview/key", data={"key": KEY, "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/preview/"


@pytest.mark.parametrize(
    ("origin", "url", "ok"),
    [
        ("http://nurture.test", "http://nurture.test", True),  # NURTURE_BASE_URL
        ("https://crm.example", "http://crm.example", True),  # TLS ended by a proxy
        ("http://127.0.0.1:8000", LOCAL_URL, True),  # the request's own Host
        ("https://evil.example", "http://nurture.test", False),
        ("http://nurture.test.evil.example", "http://nurture.test", False),
        ("null", "http://nurture.test", False),  # a sandboxed frame, say
    ],
)
async def test_the_form_from_another_site_is_refused(
    client: Client, origin: str, url: str, ok: bool
) -> None:
    async with client(REMOTE, url=url) as c:
        response = await c.post(
            "/preview/key", data={"key": KEY, "next": "/preview/"}, headers={"Origin": origin}
        )
    if ok:
        assert response.status_code == 303
    else:
        assert response.status_code == 403
        assert "Not from this site" in response.text
        assert "set-cookie" not in response.headers


async def test_the_form_takes_only_a_small_urlencoded_body(client: Client) -> None:
    async with client(REMOTE) as c:
        big = await c.post("/preview/key", data={"key": KEY, "next": "/preview/" + "a" * 5000})
        json = await c.post("/preview/key", json={"key": KEY})
        binary = await c.post("/preview/key", content=b"key=\xff", headers=FORM)
    for response in (big, json, binary):
        assert response.status_code == 400
        assert "Not a sign-in form" in response.text
        assert "set-cookie" not in response.headers


async def test_a_key_in_the_url_is_refused_and_says_it_was_logged(client: Client) -> None:
    """Right or wrong, local or not: the key was in the URL, so in the access logs."""
    for peer, url in ((REMOTE, None), (LOCAL, LOCAL_URL)):
        async with client(peer, url=url) as c:
            for given in (KEY, "guess"):
                response = await c.get("/preview/b2b-nurture", params={"key": given, "a": "1"})
                assert response.status_code == 400
                assert "set-cookie" not in response.headers
                assert "access logs" in response.text
                assert "Test-Nurture" not in response.text
                assert form_next(response.text) == "/preview/b2b-nurture?a=1"


async def test_a_new_key_ends_the_old_cookies(client: Client) -> None:
    old = cookie_value(SecretStr("the-old-key"))
    async with client(REMOTE, key="the-new-key") as c:
        c.cookies.set(COOKIE, old, domain="nurture.test", path="/preview")
        assert refused(await c.get("/preview/"))


async def test_without_an_api_key_only_this_machine(client: Client) -> None:
    async with client(REMOTE, key="") as c:
        bare = await c.get("/preview/")
        empty_bearer = await c.get("/preview/", headers={"Authorization": "Bearer "})
        c.cookies.set(COOKIE, cookie_value(SecretStr("")), domain="nurture.test", path="/preview")
        empty_cookie = await c.get("/preview/")
        c.cookies.clear()
        empty_form = await c.post("/preview/key", data={"key": "", "next": "/preview/"})
        in_url = await c.get("/preview/", params={"key": ""})
    for response in (bare, empty_bearer, empty_cookie, empty_form):
        assert refused(response)
        assert "set NURTURE_API_KEY" in response.text
        assert form_next(response.text) is None  # no key to type in
        assert "set-cookie" not in response.headers
    assert in_url.status_code == 400 and form_next(in_url.text) is None
    async with client(LOCAL, key="", url=LOCAL_URL) as c:
        assert (await c.get("/preview/")).status_code == 200


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("testclient")  # Starlette's TestClient: a name, not an address
    assert not is_loopback(None)


def test_loopback_hosts() -> None:
    for host in ("localhost", "localhost:8000", "127.0.0.1", "127.1.2.3:80", "[::1]", "[::1]:8"):
        assert loopback_host(host), host
    for host in (
        None,
        "",
        "::1",  # unbracketed: not a Host header
        "[::1",
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "10.0.0.1:8000",
        "localhost:80:80",
        "[::2]:8000",
        "2130706433",  # 127.0.0.1 as an integer: no browser sends that as Host
    ):
        assert not loopback_host(host), host
