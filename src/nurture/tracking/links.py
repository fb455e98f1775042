"""Tracked links in sent emails: an open pixel and click redirects, as signed tokens.

A token names the send (the ledger row) and, for a click, the URL; the signature makes it
unforgeable, so ``/r/{token}`` redirects only to a URL that we put into that email ourselves
(no open redirect), and the lead's id never appears in a link.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Collection

from nurture.tokens import InvalidToken, Tokens

_HREF = re.compile(r'href="(https?://[^"]+)"')
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_BODY_END = re.compile(r"</body>", re.IGNORECASE)
_LITERAL_URL = re.compile(r"https?://[^\s\"'<>{}()\[\]]+")


def literal_urls(source: str) -> set[str]:
    """The URLs written out in a template's source (not those an expression produces)."""
    return {u.rstrip(".,;:!?") for u in _LITERAL_URL.findall(source)}


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _unb64(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


class LinkTracker:
    def __init__(self, tokens: Tokens, base_url: str):
        self.tokens, self.base_url = tokens, base_url.rstrip("/")

    def open_url(self, touch_id: int) -> str:
        return f"{self.base_url}/o/{self.tokens.sign('open', format(touch_id, 'x'))}"

    def click_url(self, touch_id: int, url: str) -> str:
        payload = _b64(f"{touch_id:x} {url}")
        return f"{self.base_url}/r/{self.tokens.sign('click', payload)}"

    def read_open(self, token: str) -> int:
        try:
            return int(self.tokens.unsign("open", token), 16)
        except ValueError:
            raise InvalidToken("open") from None

    def read_click(self, token: str) -> tuple[int, str]:
        """(send id, URL), or InvalidToken for anything we did not sign."""
        try:
            touch, _, url = _unb64(self.tokens.unsign("click", token)).partition(" ")
            return int(touch, 16), url
        except (ValueError, UnicodeDecodeError):  # InvalidToken is a ValueError too
            raise InvalidToken("click") from None

    def track(self, html_part: str, text_part: str, touch_id: int,
              allowed: Collection[str]) -> tuple[str, str]:  # fmt: skip
        """Route the links to ``allowed`` URLs through /r/ and add the open pixel. Other links
        (unsubscribe, anything a lead's data produced) stay as they are."""

        def href(match: re.Match[str]) -> str:
            url = html.unescape(match.group(1))
            if url not in allowed:
                return match.group(0)
            return f'href="{html.escape(self.click_url(touch_id, url))}"'

        def bare(match: re.Match[str]) -> str:
            url = match.group(0)
            return self.click_url(touch_id, url) if url in allowed else url

        html_part = _HREF.sub(href, html_part)
        pixel = (f'<img src="{self.open_url(touch_id)}" width="1" height="1" alt="" '
                 'style="display:block;border:0;width:1px;height:1px">')  # fmt: skip
        html_part, n = _BODY_END.subn(lambda _: pixel + "</body>", html_part, count=1)
        if not n:
            html_part += pixel
        return html_part, _TEXT_URL.sub(bare, text_part)
