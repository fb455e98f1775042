"""Tracked links in a sent email: click redirects and an open pixel put into its HTML and text.

The links themselves (signed tokens naming the send, and for a click the URL) are made and read
in ``nurture.links``; the lead's id never appears in them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection

from nurture.links import Links

_HREF = re.compile(r'href="(https?://[^"]+)"')
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_BODY_END = re.compile(r"</body>", re.IGNORECASE)
_BODY_START = re.compile(r"<body[^>]*>", re.IGNORECASE)
_LITERAL_URL = re.compile(r"https?://[^\s\"'<>{}()\[\]]+")


def literal_urls(source: str) -> set[str]:
    """The URLs written out in a template's source (not those an expression produces)."""
    return {u.rstrip(".,;:!?") for u in _LITERAL_URL.findall(source)}


def track(
    links: Links, html_part: str, text_part: str, touch_id: int, allowed: Collection[str]
) -> tuple[str, str]:
    """Route the links to ``allowed`` URLs through /r/, add the open pixel and the hidden
    link. Other links (unsubscribe, anything a lead's data produced) stay as they are.

    The hidden link has no text and is not displayed: no person can see or click it, and a
    screen reader skips it; a scanner that follows every link fetches it (docs/signals.md)."""

    def href(match: re.Match[str]) -> str:
        url = html.unescape(match.group(1))
        if url not in allowed:
            return match.group(0)
        return f'href="{html.escape(links.click_url(touch_id, url))}"'

    def bare(match: re.Match[str]) -> str:
        url = match.group(0)
        return links.click_url(touch_id, url) if url in allowed else url

    html_part = _HREF.sub(href, html_part)
    pixel = (
        f'<img src="{links.open_url(touch_id)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )
    html_part, n = _BODY_END.subn(lambda _: pixel + "</body>", html_part, count=1)
    if not n:
        html_part += pixel
    hidden = (
        f'<a href="{html.escape(links.hidden_url(touch_id))}" aria-hidden="true" tabindex="-1" '
        'style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden"></a>'
    )
    html_part, n = _BODY_START.subn(lambda m: m.group(0) + hidden, html_part, count=1)
    if not n:
        html_part = hidden + html_part
    return html_part, _TEXT_URL.sub(bare, text_part)
