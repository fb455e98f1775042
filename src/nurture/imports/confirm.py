"""The double opt-in emails of an import: the form's own confirmation email (capture's), one
transport for all of them. A person who confirms starts the drip as after a form post
(``capture.service.confirm``); the consent they confirm is the form's text."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from nurture.capture.confirmation import confirmation_message
from nurture.config.forms import FormConfig
from nurture.config.project import Project
from nurture.leads.events import EventType, event_row
from nurture.mail.backend import SendStatus
from nurture.mail.transports import transport_from_url
from nurture.rendering.compose import Composer, lead_context

log = logging.getLogger(__name__)

BATCH = 50  # messages per transport call


async def send_confirmations(
    composer: Composer,
    project: Project,
    form: FormConfig,
    mail_url: str,
    pending: Sequence[tuple[Row[Any], int]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Send each (lead's row, consent id) its confirmation email; returns the events to
    record: ``confirmation_sent`` or ``confirmation_failed`` with the server's reply."""
    events: list[dict[str, Any]] = []
    if not pending:
        return events
    transport = transport_from_url(mail_url)
    try:
        await transport.open()
    except Exception as exc:  # no mail server: every one failed, the import stands
        with contextlib.suppress(Exception):
            await transport.close()
        return [_event(lead.id, False, str(exc), form, now) for lead, _ in pending]
    try:
        for start in range(0, len(pending), BATCH):
            part = pending[start : start + BATCH]
            messages = [
                confirmation_message(composer, project, form, lead_context(lead), consent, now)
                for lead, consent in part
            ]
            try:
                results = await transport.send(messages)
            except Exception as exc:  # counted as failed; the rest of the import stands
                log.warning("confirmation emails failed: %s", exc)
                events += [_event(lead.id, False, str(exc), form, now) for lead, _ in part]
                continue
            for (lead, _), result in zip(part, results, strict=True):
                sent = result.status == SendStatus.SENT
                events.append(_event(lead.id, sent, result.reply, form, now))
    finally:
        await transport.close()
    return events


def _event(lead_id: int, sent: bool, reply: str, form: FormConfig, now: datetime) -> dict[str, Any]:
    kind = EventType.CONFIRMATION_SENT if sent else EventType.CONFIRMATION_FAILED
    return event_row(lead_id, kind, now, form=form.id, reply=reply[:200], via="import")
