"""Compose a touch: the template context, rendering, and the message to send.

Used by the dispatcher, previews and test sends alike, so what a marketer previews is byte for
byte what a lead gets (but for the Message-ID, the date and the link tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from nurture.config.sequences import SequenceConfig
from nurture.leads.models import Lead
from nurture.mail.message import OutgoingMessage, build_message
from nurture.rendering.render import RenderedEmail, Renderer
from nurture.tokens import Tokens
from nurture.tracking.links import LinkTracker, literal_urls

LEAD_FIELDS = (
    "email", "first_name", "last_name", "company", "job_title", "country", "timezone", "locale",
    "lifecycle_stage",
)  # fmt: skip

SAMPLE_LEADS: dict[str, dict[str, Any]] = {
    "full": {
        "email": "max.mustermann@example.com",
        "first_name": "Max",
        "last_name": "Mustermann",
        "company": "Mustermann Consulting GmbH",
        "job_title": "Geschäftsführer",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "locale": "de",
        "custom": {"company_size": "50-199"},
        "public_id": "sample",
    },
    # Everything optional left empty: shows the fallbacks ("Hallo zusammen").
    "sparse": {"email": "info@example.com", "custom": {}, "public_id": "sample"},
}


def lead_context(lead: Lead | Mapping[str, Any] | Row[Any]) -> dict[str, Any]:
    if isinstance(lead, Row):  # a dispatcher's loaded row: its mapping reads faster
        lead = lead._mapping
    get = lead.get if isinstance(lead, Mapping) else lambda k, d=None: getattr(lead, k, d)
    ctx: dict[str, Any] = {k: get(k) for k in LEAD_FIELDS}
    ctx["custom"] = dict(get("custom") or {})
    ctx["score"] = get("score")  # loaded by the dispatcher (scoring.score.score_of)
    names = [ctx["first_name"], ctx["last_name"]]
    ctx["full_name"] = " ".join(n for n in names if n) or None
    return ctx


@dataclass
class Composer:
    renderer: Renderer
    tokens: Tokens
    base_url: str
    _steps: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict, repr=False)
    _tracked: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.links = LinkTracker(self.tokens, self.base_url)

    def unsubscribe_url(self, lead_public_id: str, touch_id: int | None = None) -> str:
        # A real send's link names the send ("t" + hex id), not the lead; previews and test
        # sends have no send and use the lead's opaque id.
        subject = f"t{touch_id:x}" if touch_id is not None else lead_public_id
        return f"{self.base_url}/u/{self.tokens.sign('unsubscribe', subject)}"

    def render(
        self, sequence: SequenceConfig, index: int, lead: Mapping[str, Any], public_id: str,
        touch_id: int | None = None,
    ) -> tuple[RenderedEmail, str]:  # fmt: skip
        step = sequence.steps[index]
        unsubscribe = self.unsubscribe_url(public_id, touch_id)
        context = {**self._step_context(sequence, index), "lead": lead,
                   "unsubscribe_url": unsubscribe}  # fmt: skip
        return self.renderer.render(step.template, step.subject, context), unsubscribe

    def _step_context(self, sequence: SequenceConfig, index: int) -> dict[str, Any]:
        """What is the same for every lead at a step, built once per composer."""
        key = (id(sequence), index)
        cached = self._steps.get(key)
        if cached is None:
            step = sequence.steps[index]
            cached = self._steps[key] = {
                "sender": sequence.sender.model_dump(),
                "sequence": {"id": sequence.id, "name": sequence.name},
                "step": {"id": step.id, "number": index + 1, "total": len(sequence.steps)},
                "links": sequence.links,
            }
        return cached

    def _trackable(self, sequence: SequenceConfig, index: int) -> frozenset[str]:
        """The URLs a step's email may link to: the sequence's links and those written out in
        its templates. Only these become click redirects."""
        key = (id(sequence), index)
        urls = self._tracked.get(key)
        if urls is None:
            source = self.renderer.sources(sequence.steps[index].template)
            urls = frozenset(sequence.links.values()) | literal_urls(source)
            self._tracked[key] = urls
        return urls

    def compose(
        self,
        sequence: SequenceConfig,
        index: int,
        lead: Mapping[str, Any],
        public_id: str,
        now: datetime,
        touch_id: int | None = None,
        to_addr: str | None = None,
    ) -> OutgoingMessage:
        rendered, unsubscribe = self.render(sequence, index, lead, public_id, touch_id)
        html, text = rendered.html, rendered.text
        if touch_id is not None:  # a real send (not a preview or a test send): track it
            allowed = self._trackable(sequence, index)
            html, text = self.links.track(html, text, touch_id, allowed)
        sender = sequence.sender
        return build_message(
            from_name=sender.name,
            from_addr=str(sender.email),
            to_name=lead.get("full_name"),
            to_addr=to_addr or lead["email"],
            subject=rendered.subject,
            html=html,
            text=text,
            date=now,
            reply_to=str(sender.reply_to) if sender.reply_to else None,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            touch_id=touch_id,
        )
