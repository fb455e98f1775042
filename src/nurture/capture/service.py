"""Capture a form submission: validate, create or update the lead, record consent, enrol.

Functions take a session and never commit; the HTTP handler owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row, delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.forms import HONEYPOT, LEAD_COLUMNS, UTM_FIELDS, FormConfig
from nurture.config.project import Project
from nurture.db import insert_values, update_by_id
from nurture.leads.events import EventType, event_row, record_event, record_events
from nurture.leads.forgotten import Forgotten, address_key, forgotten_among
from nurture.leads.models import Consent, Lead, SuppressionReason
from nurture.leads.referrals import Referral, record_referrals
from nurture.leads.service import (
    InvalidEmail,
    StageChange,
    change_stage,
    normalise_email,
    upsert_leads,
)
from nurture.leads.stages import Stage
from nurture.ledger.enrollment import activate_pending, enrol_many
from nurture.locales.catalog import N_
from nurture.locales.codes import choose, detect, localized
from nurture.policy.quiet import country_code
from nurture.visitors.service import join_many, valid_anonymous_id

_TRUE = {"on", "true", "1", "yes", "ja"}
_PHONE = re.compile(r"^[0-9+()./ -]{3,40}$")


class FormErrors(ValueError):
    """Per-field messages, returned as 422 (``errors``: English) or shown next to the field
    (``messages``: the msgid and its values, translated into the page's locale)."""

    def __init__(
        self,
        errors: dict[str, str],
        messages: dict[str, tuple[str, dict[str, Any]]] | None = None,
    ):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.messages = messages or {k: (v, {}) for k, v in errors.items()}


@dataclass(frozen=True)
class Submission:
    form_id: str
    data: Mapping[str, Any]
    now: datetime
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    referred_by: str | None = None  # public id from a signed referral token (/ref/)
    accept_language: str | None = None  # the browser's header on the post (the page's)


@dataclass
class CaptureResult:
    lead_public_id: str | None
    created: bool = False
    spam: bool = False
    needs_confirmation: bool = False
    consent_id: int | None = None
    enrolled: list[str] = field(default_factory=list)
    locale: str | None = None  # the lead's, as stored after this submission


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise TypeError


def clean(form: FormConfig, data: Mapping[str, Any]) -> dict[str, Any]:
    """The submission's values by field name, or FormErrors with a message per field."""
    errors: dict[str, str] = {}
    # What the page shows (locales/catalog.py translates these msgids); the API gets English.
    messages: dict[str, tuple[str, dict[str, Any]]] = {}

    def error(name: str, msgid: str, english: str | None = None, **values: Any) -> None:
        messages[name] = (msgid, values)
        errors[name] = english or msgid % values

    values: dict[str, Any] = {}
    for f in form.fields:
        try:
            value = _text(data.get(f.name))
        except TypeError:
            error(f.name, N_("must be text"))
            continue
        if f.type == "checkbox":
            values[f.name] = value is not None and value.lower() in _TRUE
            if f.required and not values[f.name]:
                error(f.name, N_("please tick this box"))
            continue
        if value is None:
            if f.required:
                error(f.name, N_("this field is required"))
            continue
        if len(value) > f.max_length:
            error(f.name, N_("at most %(max)s characters"), max=f.max_length)
        elif f.type == "email":
            try:
                value = normalise_email(value)
            except InvalidEmail as exc:
                error(f.name, N_("please enter a valid email address"), str(exc))
        elif f.type == "select" and value not in (f.options or []):
            error(f.name, N_("choose one of the options"))
        elif f.type == "tel" and not _PHONE.match(value):
            error(f.name, N_("not a phone number"))
        values[f.name] = value
    consent = _text(data.get("consent")) if not isinstance(data.get("consent"), dict) else None
    if not consent or consent.lower() not in _TRUE:
        error("consent", N_("consent is required to send you emails"))
    if errors:
        raise FormErrors(errors, messages)
    return values


def _meta(data: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    return value.strip()[:limit] or None if isinstance(value, str) else None


def _zone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def lead_values(form: FormConfig, values: Mapping[str, Any], sub: Submission) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in values.items() if k in LEAD_COLUMNS and k != "email"}
    custom = {k: v for k, v in values.items() if k not in LEAD_COLUMNS}
    out["custom"] = custom
    out.setdefault("timezone", _zone(_meta(sub.data, "tz", 64)))
    if out.get("timezone") and not _zone(out["timezone"]):
        out["timezone"] = None
    return out


def attribution(sub: Submission) -> dict[str, str | None]:
    utm = {k: _meta(sub.data, k, 200) for k in UTM_FIELDS}
    utm["referrer"] = _meta(sub.data, "referrer", 2000) or (sub.referrer or "")[:2000] or None
    return utm


@dataclass(frozen=True)
class Prepared:
    """A valid submission, ready to write: everything decided that needs no database."""

    sub: Submission
    form: FormConfig
    email: str
    profile: dict[str, Any]
    source: dict[str, Any]
    anonymous_id: str | None = None  # the browser's (t.js), whose page views join the lead
    # The lead's locale from weaker signals than a form field (the page's hidden field, the
    # browser's header, the country): it fills a lead's empty locale, never replaces one.
    locale: str | None = None
    shown: str = "de"  # the locale of the page the person read (its consent text)


def prepare(project: Project, sub: Submission) -> Prepared | None:
    """Validate a submission (FormErrors per field); None for a bot's post (honeypot filled)."""
    form = project.forms[sub.form_id]
    if _text(sub.data.get(HONEYPOT)):
        return None
    values = clean(form, sub.data)
    source = {**attribution(sub), "source_form": form.id}
    anonymous_id = valid_anonymous_id(sub.data.get("anonymous_id"))
    profile = lead_values(form, values, sub)
    explicit, weak, shown = locales_of(project, form, values, sub)
    profile["locale"] = explicit  # a choice the person made: it may replace the lead's
    return Prepared(sub, form, values["email"], profile, source, anonymous_id, weak, shown)


def _posted(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value.strip()[:16] or None if isinstance(value, str) else None


def locales_of(
    project: Project, form: FormConfig, values: Mapping[str, Any], sub: Submission
) -> tuple[str | None, str | None, str]:
    """A lead's locale as detected against the project's locales (docs/config.md#languages):
    (from the form's own ``locale`` field, which the person chose; else from the weaker
    signals: the landing page's hidden ``locale`` field, the browser's Accept-Language, the
    country (an ISO code or a name: "Sverige"); and the locale of the page the person read,
    one of the form's). Neither signal: no locale, each sequence applies its default."""
    chosen = values.get("locale") if form.field("locale") is not None else None
    explicit = detect(project.locales, chosen)
    hidden = _posted(sub.data, "locale") if form.field("locale") is None else None
    country = country_code(values.get("country") or _posted(sub.data, "country"))
    weak = None if explicit else detect(project.locales, hidden, sub.accept_language, country)
    # The page: what GET /f/{form} chose (its hidden field), else what it would have.
    shown = choose(form.locales, chosen or hidden, sub.accept_language)
    return explicit, weak, shown


async def capture_many(
    session: AsyncSession, project: Project, batch: list[Prepared], secret: str
) -> list[tuple[CaptureResult, Row[Any]]]:
    """Write many valid submissions with a handful of set-based statements (upsert the leads,
    record consents, enrol, append events), in order. Two submissions of one address in a
    batch are written one after the other, as if they had come in separately. An address
    whose person asked to be forgotten (``secret``: the key of its hash) goes through double
    opt-in whatever the form says: only its confirmation lifts the block."""
    out: list[tuple[CaptureResult, Row[Any]]] = []
    while batch:
        first: list[Prepared] = []
        later: list[Prepared] = []
        seen: set[str] = set()
        for p in batch:
            (later if p.email in seen else first).append(p)
            seen.add(p.email)
        out.extend(await _capture_round(session, project, first, secret))
        batch = later
    return out


async def _capture_round(
    session: AsyncSession, project: Project, batch: list[Prepared], secret: str
) -> list[tuple[CaptureResult, Row[Any]]]:
    leads = await upsert_leads(session, [(p.email, p.profile, p.sub.now, p.source) for p in batch])
    # After the upsert: it waited for a forget of the same address holding the row, and this
    # statement sees that forget's key (PostgreSQL reads what committed before it started).
    forgotten = await forgotten_among(session, [p.email for p in batch], secret)
    events: list[dict[str, Any]] = []
    resubscribed: list[dict[str, Any]] = []
    staged: list[StageChange] = []
    consents: list[dict[str, Any]] = []
    wanted: list[tuple[Row[Any], list[Any], bool, datetime]] = []
    complained: set[int] = set()
    weak: dict[str, list[int]] = {}  # detected locale -> leads that had none
    double_opt_in: dict[int, bool] = {}
    referrals: list[Referral] = []
    for p, (lead, created) in zip(batch, leads, strict=True):
        form, now = p.form, p.sub.now
        double_opt_in[lead.id] = doi = form.double_opt_in or p.email in forgotten
        source = {k: v for k, v in p.source.items() if v}
        if p.sub.referred_by and created:  # the new lead's attribution: referred by whom
            source["referred_by"] = p.sub.referred_by
            referrals.append(Referral(p.sub.referred_by, lead.id, lead.public_id, now))
        events.append(event_row(lead.id, EventType.CAPTURED, now, form=form.id, **source))
        if lead.suppression_reason == SuppressionReason.COMPLAINED:
            # Marked our mail as spam: never mailed again, not even a confirmation; a form
            # cannot tell the person from someone typing their address (docs/signals.md).
            complained.add(lead.id)
        elif lead.suppressed_at is not None:
            # Opting in again through a form, with consent, lifts a suppression.
            resubscribed.append({"id": lead.id, "suppressed_at": None, "suppression_reason": None})
            previous = lead.suppression_reason
            events.append(
                event_row(lead.id, EventType.RESUBSCRIBED, now, form=form.id, previous=previous)
            )
        verified = not doi or (lead.email_verified_at is not None and p.email not in forgotten)
        if p.locale and lead.locale is None:
            weak.setdefault(p.locale, []).append(lead.id)
        consents.append(
            {
                "lead_id": lead.id,
                "form_id": form.id,
                # the text in the language the person read it in: what they agreed to
                "text": localized(form.consent.text, p.shown, form.locales),
                "text_version": form.consent.version,
                "granted_at": now,
                "ip": p.sub.ip,
                "user_agent": (p.sub.user_agent or "")[:500] or None,
                "double_opt_in": doi,
                "confirmed_at": now if doi and verified else None,
            }
        )
        if lead.id not in complained:
            wanted.append((lead, project.sequences_for_form(form.id), not verified, now))
        if verified and lead.lifecycle_stage == Stage.SUBSCRIBER:
            staged.append(StageChange(lead.id, lead.lifecycle_stage, {"form": form.id}, now))
    if resubscribed:
        await update_by_id(session, Lead, resubscribed)
    for locale, ids in weak.items():  # one UPDATE per locale (a handful), never per lead
        await session.execute(
            update(Lead).where(Lead.id.in_(ids), Lead.locale.is_(None)).values(locale=locale)
        )
    inserted = await insert_values(
        session, Consent.__table__, _CONSENT_COLUMNS, consents, returning=("id", "lead_id")
    )
    by_lead = {r.lead_id: r.id for r in inserted}  # RETURNING order is not promised
    consent_ids = [by_lead[lead.id] for lead, _ in leads]
    enrolled = await enrol_many(session, project.versions, wanted)
    await record_events(session, events)
    await record_referrals(session, referrals)
    # A subscriber whose address is confirmed (or needs no confirmation) is a lead; a lead
    # further down the funnel (an MQL, a customer) stays where it is.
    await change_stage(session, Stage.LEAD, staged, now)
    # The visitor's page views before the form become the lead's (once: see visitors).
    browsers = [(p.anonymous_id, lead.id) for p, (lead, _) in zip(batch, leads, strict=True)]
    await join_many(session, [(a, lead) for a, lead in browsers if a], now, "form")
    filled = {i: locale for locale, ids in weak.items() for i in ids}
    results = []
    for p, (lead, created), consent_id in zip(batch, leads, consent_ids, strict=True):
        waits = (
            double_opt_in[lead.id]
            and (lead.email_verified_at is None or p.email in forgotten)
            and lead.id not in complained
        )
        result = CaptureResult(
            lead.public_id,
            created,
            consent_id=consent_id,
            needs_confirmation=waits,
            enrolled=enrolled.get(lead.id, []),
            # the row was read before the UPDATE above filled an empty locale
            locale=filled.get(lead.id, lead.locale),
        )
        results.append((result, lead))
    return results


_CONSENT_COLUMNS = (
    "lead_id",
    "form_id",
    "text",
    "text_version",
    "granted_at",
    "ip",
    "user_agent",
    "double_opt_in",
    "confirmed_at",
)


class ConfirmError(ValueError):
    pass


@dataclass(frozen=True)
class Pending:
    """A confirmation link, read without changing anything (a mail scanner may be the one
    fetching it): its consent, the form, the lead's address, and whether it is confirmed."""

    consent: Consent
    form: FormConfig
    email: str
    locale: str | None = None  # the lead's

    @property
    def confirmed(self) -> bool:
        return self.consent.confirmed_at is not None


async def pending_confirmation(
    session: AsyncSession, project: Project, consent_id: int, now: datetime, max_age: timedelta
) -> Pending:
    """What a confirmation link stands for; ConfirmError if nothing, or if it expired."""
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.form_id not in project.forms:
        raise ConfirmError(N_("unknown confirmation"))
    if consent.confirmed_at is None and now - consent.granted_at > max_age:
        raise ConfirmError(N_("this confirmation link has expired; please sign up again"))
    lead = await session.get(Lead, consent.lead_id)
    assert lead is not None
    return Pending(consent, project.forms[consent.form_id], lead.email, lead.locale)


async def confirm(
    session: AsyncSession,
    project: Project,
    consent_id: int,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
    max_age: timedelta,
    secret: str,
) -> tuple[Lead, FormConfig, list[str]]:
    """Double opt-in, confirmed by a person's POST: mark the consent confirmed (when, from
    which address and browser) and start the drips that waited for it. Confirming twice is
    harmless (the drip starts once). A forgotten address (``secret``: its hash's key) is
    forgotten no more: a new, confirmed consent is what mailing it again needs."""
    pending = await pending_confirmation(session, project, consent_id, now, max_age)
    consent, form = pending.consent, pending.form
    lead = await session.get(Lead, consent.lead_id)
    assert lead is not None
    started: list[str] = []
    if consent.confirmed_at is None:
        consent.confirmed_at, consent.confirmed_ip = now, ip
        consent.confirmed_user_agent = (user_agent or "")[:500] or None
        lead.email_verified_at = lead.email_verified_at or now
        await record_event(session, lead.id, EventType.CONFIRMED, now, form=form.id)
        key = address_key(lead.email, secret)
        await session.execute(delete(Forgotten).where(Forgotten.key == key))
        if lead.lifecycle_stage == Stage.SUBSCRIBER:
            change = StageChange(lead.id, lead.lifecycle_stage, {"form": form.id})
            await change_stage(session, Stage.LEAD, [change], now)
    if lead.suppressed_at is None:
        started = await activate_pending(session, lead, project.sequences_for_form(form.id), now)
    return lead, form, started
