"""The double opt-in email: a signed link that proves the address belongs to the lead."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nurture.config.forms import FormConfig
from nurture.config.project import Project
from nurture.config.sequences import Sender
from nurture.locales.catalog import N_, translate
from nurture.locales.codes import localized, resolve
from nurture.mail.backend import SendStatus
from nurture.mail.message import OutgoingMessage, build_message
from nurture.mail.transports import transport_from_url
from nurture.rendering.compose import Composer

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = N_("Please confirm your email address")


def confirmation_sender(project: Project, form: FormConfig) -> Sender:
    if form.sender is not None:
        return form.sender
    sequences = project.sequences_for_form(form.id)
    if not sequences:
        raise ValueError(f"form {form.id!r} has no sender and no sequence to take one from")
    return sequences[0].sender


def confirmation_message(
    composer: Composer,
    project: Project,
    form: FormConfig,
    lead: dict[str, Any],
    consent_id: int,
    now: datetime,
) -> OutgoingMessage:
    """The confirmation email in the lead's locale, resolved against the form's
    (templates/email/confirm.<locale>.{html,txt}.j2, then confirm.{html,txt}.j2)."""
    sender = confirmation_sender(project, form)
    locale = resolve(lead.get("locale"), form.locales)
    context = {
        "locale": locale,
        "lead": lead,
        "form": {"id": form.id, "title": localized(form.title, locale, form.locales)},
        "sender": sender.model_dump(),
        "confirm_url": composer.links.confirm_url(consent_id),
    }
    subject = (
        localized(form.confirmation_subject, locale, form.locales)
        if form.confirmation_subject is not None
        else translate(locale, DEFAULT_SUBJECT)
    )
    rendered = composer.renderer.render("confirm", subject, context, locale)
    return build_message(
        from_name=sender.name,
        from_addr=str(sender.email),
        to_name=lead.get("full_name"),
        to_addr=lead["email"],
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        date=now,
        headers={"Content-Language": locale},
    )


async def send_confirmation(mail_url: str, message: OutgoingMessage) -> tuple[bool, str]:
    """Send one confirmation right away; returns (sent, server reply)."""
    transport = transport_from_url(mail_url)
    try:
        await transport.open()
        [result] = await transport.send([message])
    except Exception as exc:  # reported as an event; the lead can submit again
        log.warning("confirmation email to %s failed: %s", message.recipient, exc)
        return False, str(exc)
    finally:
        await transport.close()
    return result.status == SendStatus.SENT, result.reply
