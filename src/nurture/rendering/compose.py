"""Compose a touch: the template context, rendering, and the message to send.

Used by the dispatcher, previews and test sends alike, so what a marketer previews is byte for
byte what a lead gets (but for the Message-ID, the date and the link tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row

from nurture.config.sequences import SequenceConfig
from nurture.leads.models import PROFILE, Lead
from nurture.links import Links
from nurture.locales.codes import resolve
from nurture.mail.message import OutgoingMessage, build_message
from nurture.rendering.render import RenderedEmail, Renderer
from nurture.rendering.tracked_links import literal_urls, track
from nurture.settings import Settings
from nurture.tokens import Tokens

T = TypeVar("T")

# What a template sees of a lead (as ``lead.<field>``), besides custom fields and the score.
LEAD_FIELDS = ("email", *PROFILE, "lifecycle_stage")

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
    links: Links
    # Which providers' touch headers a real send carries (provider_headers): only those whose
    # webhook is on, the only ones that strip them before delivery and report them back.
    ses_tags: bool = False
    postmark_metadata: bool = False
    # What is the same for every lead at a step, by (sequence id, step index, ...); each entry
    # keeps the sequence it was built from and is used only for an equal one (a reloaded or
    # edited config is a new object, and a dead object's id() can be reused by another).
    _steps: dict[tuple[Any, ...], tuple[SequenceConfig, dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )
    _tracked: dict[tuple[Any, ...], tuple[SequenceConfig, frozenset[str]]] = field(
        default_factory=dict, repr=False
    )
    _links: dict[tuple[Any, ...], tuple[SequenceConfig, dict[str, str]]] = field(
        default_factory=dict, repr=False
    )

    def render(
        self,
        sequence: SequenceConfig,
        index: int,
        lead: Mapping[str, Any],
        public_id: str,
        touch_id: int | None = None,
        variant: str | None = None,
        locale: str | None = None,
    ) -> tuple[RenderedEmail, str]:
        """The step's email for ``lead``, in its locale (or ``locale``: previews) by the
        sequence's fallback chain, and the step's ``variant`` (None: the step itself)."""
        step = sequence.steps[index]
        locale = locale_of(sequence, locale or lead.get("locale"))
        # A real send's link names the send, not the lead; previews and test sends have no
        # send and use the lead's opaque id.
        unsubscribe = (
            self.links.unsubscribe_lead_url(public_id)
            if touch_id is None
            else self.links.unsubscribe_send_url(touch_id)
        )
        links = self.links

        def nps_url(score: int) -> str:
            """The link that gives ``score`` (0-10) in a satisfaction question."""
            if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
                raise ValueError(f"nps_url takes a score from 0 to 10, not {score!r}")
            if touch_id is None:
                return links.nps_lead_url(public_id, score)
            return links.nps_send_url(touch_id, score)

        context = {
            **self._step_context(sequence, index),
            "links": self._links_for(sequence, locale),
            "locale": locale,
            "lead": lead,
            "unsubscribe_url": unsubscribe,
            # links made only where a template asks for them (signing costs per email)
            "nps_url": nps_url,
            "referral_url": lambda: links.referral_url(public_id),
        }
        subject = step.subject_for(locale, sequence.locales, variant)
        template = step.template_for(variant)
        return self.renderer.render(template, subject, context, locale), unsubscribe

    def _step_context(self, sequence: SequenceConfig, index: int) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            step = sequence.steps[index]
            return {
                "sender": sequence.sender.model_dump(),
                "sequence": {"id": sequence.id, "name": sequence.name},
                "step": {"id": step.id, "number": index + 1, "total": len(sequence.steps)},
            }

        return _cached(self._steps, sequence, (sequence.id, index), build)

    def _links_for(self, sequence: SequenceConfig, locale: str) -> dict[str, str]:
        """The sequence's links in ``locale`` (the same for every lead)."""
        key = (sequence.id, locale)
        return _cached(self._links, sequence, key, lambda: sequence.links_for(locale))

    def _trackable(
        self, sequence: SequenceConfig, index: int, locale: str, variant: str | None
    ) -> frozenset[str]:
        """The URLs a step's email may link to: the sequence's links and those written out in
        its templates. Only these become click redirects."""

        def build() -> frozenset[str]:
            template = sequence.steps[index].template_for(variant)
            source = self.renderer.sources(template, locale)
            return sequence.link_urls | literal_urls(source)

        return _cached(self._tracked, sequence, (sequence.id, index, locale, variant), build)

    def compose(
        self,
        sequence: SequenceConfig,
        index: int,
        lead: Mapping[str, Any],
        public_id: str,
        now: datetime,
        touch_id: int | None = None,
        to_addr: str | None = None,
        variant: str | None = None,
        locale: str | None = None,
    ) -> OutgoingMessage:
        locale = locale_of(sequence, locale or lead.get("locale"))
        rendered, unsubscribe = self.render(
            sequence, index, lead, public_id, touch_id, variant, locale
        )
        html, text = rendered.html, rendered.text
        if touch_id is not None:  # a real send (not a preview or a test send): track it
            allowed = self._trackable(sequence, index, locale, variant)
            html, text = track(self.links, html, text, touch_id, allowed)
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
                "Content-Language": locale,
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                **provider_headers(touch_id, self.ses_tags, self.postmark_metadata),
            },
            touch_id=touch_id,
        )


# The name under which SES (a message tag) and Postmark (metadata) report our touch id.
TOUCH_TAG = "nurture-touch"


def provider_headers(touch_id: int | None, ses: bool, postmark: bool) -> dict[str, str]:
    """What a provider echoes in its bounce and complaint webhooks, so it names the send
    (nurture.mailevents): SES rewrites the Message-ID but reports message tags; Postmark
    replaces it too but echoes metadata; SendGrid and Mailgun echo the Message-ID itself.
    Only for the provider whose webhook is on (``ses``, ``postmark``): that provider strips
    its header before delivery, but any other server passes it on, and a recipient would
    read our sequential touch ids. Tag values allow only [A-Za-z0-9_.-]."""
    if touch_id is None:
        return {}
    headers = {}
    if ses:
        headers["X-SES-MESSAGE-TAGS"] = f"{TOUCH_TAG}={touch_id}"
    if postmark:
        headers[f"X-PM-Metadata-{TOUCH_TAG}"] = str(touch_id)
    return headers


def locale_of(sequence: SequenceConfig, wanted: str | None) -> str:
    """The sequence's locale for a lead that wants ``wanted`` (its fallback chain)."""
    return resolve(wanted, sequence.locales)


def _cached(
    cache: dict[tuple[Any, ...], tuple[SequenceConfig, T]],
    sequence: SequenceConfig,
    key: tuple[Any, ...],
    build: Callable[[], T],
) -> T:
    hit = cache.get(key)
    if hit is not None and hit[0] is not sequence and hit[0] == sequence:
        hit = cache[key] = (sequence, hit[1])  # the same content, reloaded: keep the value
    if hit is None or hit[0] is not sequence:
        hit = cache[key] = (sequence, build())
    return hit[1]


def build_composer(settings: Settings, auto_reload: bool = False) -> Composer:
    """The one way to a composer: the settings' templates, link key and public URL.
    ``auto_reload`` for a long-lived composer (the web app) that must see template edits; a
    dispatch pass or a command builds its own and need not check the files on every render."""
    links = Links(Tokens(settings.resolved_secret_key()), settings.base_url)
    return Composer(
        Renderer(settings.templates_dir, auto_reload=auto_reload),
        links,
        # The provider webhooks' settings say which provider the mail goes through.
        ses_tags=bool(settings.ses_topic_arns),
        postmark_metadata=bool(
            settings.postmark_webhook_user and settings.postmark_webhook_password.get_secret_value()
        ),
    )
