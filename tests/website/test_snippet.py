"""GET /t.js: the write key and cookie domain in it, cached, revalidated; a stub without a key."""

from __future__ import annotations

import httpx

from nurture.app import create_app


async def test_the_snippet_carries_the_key_and_caches(settings) -> None:
    configured = settings.model_copy(
        update={"tracking_key": "pk_live_1", "tracking_cookie_domain": "planwerk.example"}
    )
    transport = httpx.ASGITransport(app=create_app(configured))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        js = await client.get("/t.js")
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("application/javascript")
        assert js.headers["cache-control"] == "public, max-age=3600"
        assert (
            'var KEY = "pk_live_1", DOMAIN = "planwerk.example", COOKIE = "nurture_aid"' in js.text
        )
        assert "doNotTrack" in js.text and "globalPrivacyControl" in js.text
        assert "http" not in js.text.replace("https:", "")  # no third-party address in it
        again = await client.get("/t.js", headers={"if-none-match": js.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


async def test_without_a_key_the_snippet_sends_nothing(app_client) -> None:
    js = await app_client.get("/t.js")
    assert js.status_code == 200 and 'var KEY = ""' in js.text
    assert "var off = !KEY || declined" in js.text
