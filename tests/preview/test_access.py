"""Who may open /preview/: this machine without a proxy in between, else the API key (a
bearer header, or ?key= once, which leaves a cookie with an HMAC of the key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from nurture.app import create_app
from nurture.preview.access import COOKIE, cookie_value, is_loopback
from nurture.settings import Settings

KEY = "preview-key-123"
REMOTE = ("203.0.113.7", 40000)
LOCAL = ("127.0.0.1", 40000)

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client(settings: Settings) -> Client:
    """A client of the app seen from ``peer``, with ``key`` as NURTURE_API_KEY."""

    @asynccontextmanager
    async def make(
        peer: tuple[str, int] = REMOTE, key: str = KEY
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update={"api_key": SecretStr(key)}))
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as c:
            yield c

    return make


def refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 403
        and response.headers["content-type"].startswith("text/html")
        and "No access to the preview" in response.text
        and "Test-Nurture" not in response.text  # nothing of the preview itself
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "127.0.0.2"])
async def test_this_machine_sees_it_without_a_key(client: Client, host: str) -> None:
    async with client((host, 5000)) as c:
        response = await c.get("/preview/")
    assert response.status_code == 200
    assert "<h1>Preview</h1>" in response.text


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "198.51.100.4"},
        {"Forwarded": "for=198.51.100.4"},
        {"X-Real-IP": "198.51.100.4"},
    ],
)
async def test_through_a_proxy_localhost_is_no_one_in_particular(
    client: Client, header: dict[str, str]
) -> None:
    async with client(LOCAL) as c:
        response = await c.get("/preview/", headers=header)
        assert refused(response)
        assert "NURTURE_API_KEY" in response.text
        # the key still opens it behind the proxy
        keyed = await c.get("/preview/", headers={**header, "Authorization": f"Bearer {KEY}"})
    assert keyed.status_code == 200


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


async def test_the_key_once_in_the_url_leaves_a_cookie_not_the_key(client: Client) -> None:
    async with client(REMOTE) as c:
        response = await c.get("/preview/b2b-nurture", params={"key": KEY, "start": "2026-12-07"})
        assert response.status_code == 303
        assert response.headers["location"] == "/preview/b2b-nurture?start=2026-12-07"
        cookie = response.headers["set-cookie"]
        assert KEY not in cookie
        assert cookie.startswith(f"{COOKIE}={cookie_value(SecretStr(KEY))};")
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/preview"} <= attributes
        assert "secure" not in attributes  # http://nurture.test: a browser would drop it

        page = await c.get(response.headers["location"])  # the client keeps the cookie
        assert page.status_code == 200
        assert "Mon 2026-12-07 00:00" in page.text  # ?start= survived the redirect
        assert (await c.get("/preview/b2b-nurture/welcome/de.html")).status_code == 200

        c.cookies.set(COOKIE, "0" * 64, domain="nurture.test", path="/preview")
        assert refused(await c.get("/preview/"))


async def test_a_new_key_ends_the_old_cookies(client: Client) -> None:
    old = cookie_value(SecretStr("the-old-key"))
    async with client(REMOTE, key="the-new-key") as c:
        c.cookies.set(COOKIE, old, domain="nurture.test", path="/preview")
        assert refused(await c.get("/preview/"))


async def test_a_wrong_key_in_the_url_is_refused_and_sets_nothing(client: Client) -> None:
    async with client(REMOTE) as c:
        response = await c.get("/preview/", params={"key": "guess"})
    assert refused(response)
    assert "set-cookie" not in response.headers
    assert "That key is not NURTURE_API_KEY" in response.text


async def test_without_an_api_key_only_this_machine(client: Client) -> None:
    async with client(REMOTE, key="") as c:
        bare = await c.get("/preview/")
        empty_bearer = await c.get("/preview/", headers={"Authorization": "Bearer "})
        empty_key = await c.get("/preview/", params={"key": ""})
        c.cookies.set(COOKIE, cookie_value(SecretStr("")), domain="nurture.test", path="/preview")
        empty_cookie = await c.get("/preview/")
    for response in (bare, empty_bearer, empty_key, empty_cookie):
        assert refused(response)
        assert "set NURTURE_API_KEY" in response.text
    async with client(LOCAL, key="") as c:
        assert (await c.get("/preview/")).status_code == 200


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("testclient")  # Starlette's TestClient: a name, not an address
    assert not is_loopback(None)
