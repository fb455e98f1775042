"""Every signed link in an email, made and read in one place.

- ``/c/{token}``: a consent row to confirm (double opt-in); timed JSON of the consent id.
- ``/u/{token}``: whom to unsubscribe: a send ("t" + hex send id) or a lead (its public id).
- ``/o/{token}``: a send opened (the pixel); the hex send id.
- ``/r/{token}``: a link in a send clicked; base64 of "hex send id, space, URL".
- ``/s/{token}/accept`` and ``/reject``: a hand-off the rep answers; the hex hand-off id.
- ``/n/{token}``: a satisfaction score (0-10) given in an email: "t" + hex send id (or a
  lead's public id in previews), "-", the score (no space: a mail client ends a link at
  one). The page records it with a POST.
- ``/ref/{token}``: a customer's personal referral link: the referrer's public id.

All but ``/c/`` are itsdangerous signed strings without expiry (a link in a months-old email
still unsubscribes); ``/c/`` expires (the service checks the consent's age).

Tokens carry only opaque ids and the signature makes them unforgeable; each kind has its own
salt (``Tokens``), so a token of one kind is useless as another. Links in emails already sent
must keep working: the formats above are fixed (tests/test_links.py holds URLs made before).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from nurture.tokens import InvalidToken, Tokens

HandoffAnswer = Literal["accept", "reject"]


@dataclass(frozen=True)
class SendUnsubscribe:
    """An unsubscribe link in a real send: it names the send (the lead comes from the ledger)."""

    touch_id: int


@dataclass(frozen=True)
class LeadUnsubscribe:
    """An unsubscribe link without a send (previews, test sends): the lead's public id."""

    public_id: str


@dataclass(frozen=True)
class Click:
    touch_id: int
    url: str  # "" for the hidden link

    @property
    def hidden(self) -> bool:
        """The link no person can see (``hidden_url``): only a machine follows it."""
        return not self.url


@dataclass(frozen=True)
class NpsScore:
    """A score from an NPS link: of a real send (``touch_id``) or, in previews and test
    sends, of a lead (``public_id``)."""

    score: int
    touch_id: int | None = None
    public_id: str | None = None


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _unb64(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


def _hex(value: str, purpose: str) -> int:
    try:
        return int(value, 16)
    except ValueError:
        raise InvalidToken(purpose) from None


class Links:
    def __init__(self, tokens: Tokens, base_url: str):
        self.tokens, self.base_url = tokens, base_url.rstrip("/")

    def confirm_url(self, consent_id: int) -> str:
        return f"{self.base_url}/c/{self.tokens.make('confirm', consent_id)}"

    def read_confirm(self, token: str) -> int:
        """The consent id, or InvalidToken."""
        consent_id = self.tokens.read("confirm", token)
        if not isinstance(consent_id, int) or isinstance(consent_id, bool):
            raise InvalidToken("confirm")
        return consent_id

    # Unsubscribe. A lead's public id is hex (uuid4), so it never starts with "t".
    def unsubscribe_send_url(self, touch_id: int) -> str:
        return f"{self.base_url}/u/{self.tokens.sign('unsubscribe', f't{touch_id:x}')}"

    def unsubscribe_lead_url(self, public_id: str) -> str:
        return f"{self.base_url}/u/{self.tokens.sign('unsubscribe', public_id)}"

    def read_unsubscribe(self, token: str) -> SendUnsubscribe | LeadUnsubscribe:
        subject = self.tokens.unsign("unsubscribe", token)
        if subject.startswith("t"):
            return SendUnsubscribe(_hex(subject[1:], "unsubscribe"))
        return LeadUnsubscribe(subject)

    # Tracking: the open pixel and click redirects of a real send.
    def open_url(self, touch_id: int) -> str:
        return f"{self.base_url}/o/{self.tokens.sign('open', format(touch_id, 'x'))}"

    def read_open(self, token: str) -> int:
        """The send id, or InvalidToken."""
        return _hex(self.tokens.unsign("open", token), "open")

    def click_url(self, touch_id: int, url: str) -> str:
        payload = _b64(f"{touch_id:x} {url}")
        return f"{self.base_url}/r/{self.tokens.sign('click', payload)}"

    def hidden_url(self, touch_id: int) -> str:
        """A click link like any other, to put where no person can see or follow it: a
        scanner that fetches every link of a message fetches this one too."""
        return self.click_url(touch_id, "")

    def read_click(self, token: str) -> Click:
        """The send and the URL we put into its email, or InvalidToken: ``/r/`` redirects only
        to URLs we signed (no open redirect)."""
        try:
            touch, _, url = _unb64(self.tokens.unsign("click", token)).partition(" ")
            return Click(int(touch, 16), url)
        except (ValueError, UnicodeDecodeError):  # InvalidToken is a ValueError too
            raise InvalidToken("click") from None

    # The rep's answer to a hand-off: one token, the answer in the path.
    def handoff_url(self, handoff_id: int, answer: HandoffAnswer) -> str:
        token = self.tokens.sign("handoff", format(handoff_id, "x"))
        return f"{self.base_url}/s/{token}/{answer}"

    def read_handoff(self, token: str) -> int:
        """The hand-off id, or InvalidToken."""
        return _hex(self.tokens.unsign("handoff", token), "handoff")

    # A one-click satisfaction score: one link per score, the page records it with a POST.
    # "-" between subject and score: URL-safe (a space broke the link in mail clients), and
    # neither a hex send id nor a public id (uuid4 hex) contains one.
    def nps_send_url(self, touch_id: int, score: int) -> str:
        return f"{self.base_url}/n/{self.tokens.sign('nps', f't{touch_id:x}-{score}')}"

    def nps_lead_url(self, public_id: str, score: int) -> str:
        return f"{self.base_url}/n/{self.tokens.sign('nps', f'{public_id}-{score}')}"

    def read_nps(self, token: str) -> NpsScore:
        """Whose score and which, or InvalidToken."""
        subject, _, score = self.tokens.unsign("nps", token).rpartition("-")
        if not subject or not score.isdigit() or not 0 <= int(score) <= 10:
            raise InvalidToken("nps")
        if subject.startswith("t"):
            return NpsScore(int(score), touch_id=_hex(subject[1:], "nps"))
        return NpsScore(int(score), public_id=subject)

    # A customer's personal referral link.
    def referral_url(self, public_id: str) -> str:
        return f"{self.base_url}/ref/{self.tokens.sign('referral', public_id)}"

    def read_referral(self, token: str) -> str:
        """The referrer's public id, or InvalidToken."""
        return self.tokens.unsign("referral", token)
