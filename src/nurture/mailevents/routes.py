"""POST /api/mail-events/{provider}: bounces and complaints from ses, postmark, sendgrid,
mailgun and generic (docs/signals.md, "Provider webhooks").

In order: a provider without its setting 404; a bad or missing signature or credential 401,
checked before anything else of the payload is read (SES and Mailgun sign inside the body:
only the signature's fields are read first, and a body that is not JSON has none); a payload
we cannot read 422 (a message per field); then each notification's id is claimed in receipts
and the new ones' feedback applied in the same transaction, so a replay records nothing new,
and a refusal on the way (a reused Mailgun token) leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from nurture.db import session_scope, utcnow
from nurture.feedback.service import apply_feedback
from nurture.mailevents import generic, mailgun, postmark, sendgrid, ses
from nurture.mailevents.common import Notice, Refused, Unavailable, Unreadable
from nurture.receipts import first_seen, prune
from nurture.settings import Settings
from nurture.web.auth import bearer_authorised
from nurture.web.errors import ErrorsOut
from nurture.web.state import AppState, get_state

router = APIRouter(prefix="/api")

# What switches each provider on (404 without it).
SETTING = {
    "ses": "NURTURE_SES_TOPIC_ARNS",
    "postmark": "NURTURE_POSTMARK_WEBHOOK_USER and NURTURE_POSTMARK_WEBHOOK_PASSWORD",
    "sendgrid": "NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "mailgun": "NURTURE_MAILGUN_SIGNING_KEY",
    "generic": "NURTURE_API_KEY",
}
CONFIGURED: dict[str, Callable[[Settings], bool]] = {
    "ses": lambda s: bool(s.ses_topic_arns),
    "postmark": postmark.configured,
    "sendgrid": sendgrid.configured,
    "mailgun": mailgun.configured,
    "generic": lambda s: bool(s.api_key.get_secret_value()),
}
FETCH_TIMEOUT = 10.0


class MailEventsOut(BaseModel):
    notifications: int = Field(0, description="Bounces and complaints in the request.")
    new: int = Field(0, description="Of which never seen before (the rest are replays).")
    recorded: int = Field(0, description="Events recorded on leads.")
    unmatched: int = Field(0, description="Matching no send and no lead: dropped.")
    suppressed: int = Field(0, description="Addresses suppressed now.")
    exited: int = Field(0, description="Drips ended.")


async def fetch_https(url: str) -> bytes:
    """GET ``url`` (already checked to be an SNS host): no redirects, a short timeout."""
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


async def get_sns(request: Request) -> ses.Sns:
    """The app's SNS verifier (and its certificate cache). Tests put one with their own
    fetcher on ``app.state.sns`` first."""
    sns = getattr(request.app.state, "sns", None)
    if sns is None:
        sns = request.app.state.sns = ses.Sns(fetch_https)
    return sns  # type: ignore[no-any-return]


@dataclass
class Batch:
    notices: list[Notice] = field(default_factory=list)
    # A key that must be new, or the request is refused (a Mailgun token): claimed under its
    # own source, kept for as long as it could be replayed.
    nonce: str | None = None
    nonce_source: str = ""
    nonce_kept: timedelta = timedelta(0)


def _error(status: int, errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(ErrorsOut(detail=errors).model_dump(), status)  # type: ignore[arg-type]


@router.post(
    "/mail-events/{provider}",
    response_model=MailEventsOut,
    responses={
        401: {"model": ErrorsOut},
        404: {"model": ErrorsOut},
        422: {"model": ErrorsOut},
        503: {"model": ErrorsOut},
    },
    summary="Bounces and complaints from an email provider (ses, postmark, sendgrid, "
    "mailgun, generic)",
)
async def mail_events(
    provider: Annotated[str, Path(max_length=20, description="ses, postmark, sendgrid, …")],
    request: Request,
    state: AppState = Depends(get_state),
    sns: ses.Sns = Depends(get_sns),
) -> JSONResponse:
    settings = state.settings
    if provider not in CONFIGURED or not CONFIGURED[provider](settings):
        known = provider in SETTING
        msg = f"not configured (set {SETTING[provider]})" if known else "no such provider"
        return _error(404, [{"loc": ["path", "provider"], "msg": msg}])
    body = await request.body()
    now = utcnow()
    try:
        batch = await _read(provider, request, body, settings, sns, now)
        if batch is None:  # an SNS subscription (un)confirmed: nothing to record
            return JSONResponse(MailEventsOut().model_dump())
        report = await _apply(state, provider, batch, now)
    except Refused as exc:
        return _error(401, exc.errors)
    except Unreadable as exc:
        return _error(422, exc.errors)
    except Unavailable as exc:
        return _error(503, [{"loc": ["body"], "msg": str(exc)}])
    return JSONResponse(report.model_dump())


async def _read(
    provider: str,
    request: Request,
    body: bytes,
    settings: Settings,
    sns: ses.Sns,
    now: datetime,
) -> Batch | None:
    """Check who sent it, then read it (Refused, Unreadable, Unavailable)."""
    headers = request.headers
    if provider == "ses":
        raw, signed = ses.read_signed(body, settings.ses_topic_arns)
        await sns.verify(raw, signed, now)
        envelope = ses.read_envelope(raw)
        if envelope.Type == "SubscriptionConfirmation":
            await sns.confirm(envelope)
            return None
        if envelope.Type == "UnsubscribeConfirmation":
            return None
        return Batch([ses.read_message(envelope, now)])
    if provider == "postmark":
        postmark.check_auth(headers.get("authorization", ""), settings)
        return Batch(postmark.read(body, now))
    if provider == "sendgrid":
        sendgrid.verify(
            settings,
            headers.get(sendgrid.SIGNATURE_HEADER, ""),
            headers.get(sendgrid.TIMESTAMP_HEADER, ""),
            body,
        )
        return Batch(sendgrid.read(body, now))
    if provider == "mailgun":
        raw, signature = mailgun.read_signature(body)
        mailgun.verify(settings, signature, now)
        webhook = mailgun.read(raw)
        return Batch(
            mailgun.notices(webhook, now),
            mailgun.token_key(signature),
            mailgun.TOKEN_SOURCE,
            mailgun.TOKEN_KEPT,
        )
    if not bearer_authorised(request, settings.api_key):
        raise Refused(["header", "authorization"], "a valid 'Bearer <NURTURE_API_KEY>' is required")
    return Batch(generic.read(body, now))


async def _apply(state: AppState, provider: str, batch: Batch, now: datetime) -> MailEventsOut:
    wanted = [n.cleaned() for n in batch.notices if n.items]
    keys = [n.key for n in wanted]
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        new = await first_seen(session, provider, keys, now)
        fresh = [n for n in wanted if n.key in new]
        if batch.nonce is not None:
            await prune(session, batch.nonce_source, now - batch.nonce_kept)
            nonce_new = await first_seen(session, batch.nonce_source, [batch.nonce], now)
            if not nonce_new and fresh:
                # A token used before, on a notification never seen: someone replays a
                # signature. Raising rolls the claims back.
                raise Refused(["body", "signature", "token"], "this token was used before")
        items = [item for n in fresh for item in n.items]
        report = await apply_feedback(session, items, state.project().signals.bounces, now)
    return MailEventsOut(
        notifications=len(wanted),
        new=len(fresh),
        recorded=report.recorded,
        unmatched=len(report.unmatched),
        suppressed=report.suppressed,
        exited=report.exited,
    )
