"""HTTP: GET/POST /f/{form} (landing page and submissions), GET /c/{token} (the confirm
page) and POST /c/{token} (the double opt-in)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.capture.confirmation import confirmation_message, send_confirmation
from nurture.capture.schemas import SubmissionIn, SubmissionOut
from nurture.capture.service import (
    CaptureResult,
    ConfirmError,
    FormErrors,
    Prepared,
    Submission,
    capture_many,
    confirm,
    pending_confirmation,
    prepare,
)
from nurture.config.forms import HONEYPOT, REFERRAL_FIELD, UTM_FIELDS, FormConfig
from nurture.db import session_scope, utcnow
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.service import mask_email
from nurture.locales.catalog import N_, translate
from nurture.locales.codes import localized, normalize, resolve
from nurture.rendering.compose import lead_context
from nurture.tokens import InvalidToken
from nurture.web.errors import ErrorsOut
from nurture.web.state import AppState, Writer, client_ip, get_state

router = APIRouter()


async def _write_captures(
    state: AppState, session: AsyncSession, batch: list[Prepared]
) -> list[tuple[CaptureResult, Row[Any]]]:
    return await capture_many(session, state.project(), batch, state.settings.resolved_secret_key())


async def _write_events(
    _state: AppState, session: AsyncSession, rows: list[dict[str, Any]]
) -> list[None]:
    await record_events(session, rows)
    return [None] * len(rows)


# Concurrent form posts share transactions (see GroupCommit); so do the events of the
# confirmation emails sent after them.
CAPTURES: Writer[Prepared, tuple[CaptureResult, Row[Any]]] = Writer("captures", _write_captures)
CONFIRMATION_EVENTS: Writer[dict[str, Any], None] = Writer("events", _write_events)

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SubmissionIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": SubmissionIn.model_json_schema()},
        },
    }
}


def _form(state: AppState, form_id: str) -> FormConfig | None:
    return state.project().forms.get(form_id)


def _origin_ok(request: Request, state: AppState, form: FormConfig) -> str | None:
    """The Origin to echo for CORS, '' for same-origin/no Origin, None when refused."""
    origin = request.headers.get("origin")
    if not origin:
        return ""
    own = {
        urlsplit(state.settings.base_url)._replace(path="").geturl().rstrip("/"),
        f"{request.url.scheme}://{request.url.netloc}",
    }
    if origin in own:
        return ""
    return origin if origin in form.allowed_origins else None


def _page_context(
    form: FormConfig, request: Request, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """What a landing page sees besides ``locale`` and ``text()`` (Pages.render)."""
    query = request.query_params
    hidden = {k: values.get(k) or query.get(k) or "" for k in UTM_FIELDS}
    hidden["referrer"] = values.get("referrer") or request.headers.get("referer", "")
    # a referral link's signed token (/ref/ redirects here with it), read back on the post
    hidden[REFERRAL_FIELD] = values.get(REFERRAL_FIELD) or query.get(REFERRAL_FIELD) or ""
    return {
        "form": form,
        "values": values,
        "errors": errors,
        "hidden": hidden,
        "honeypot": HONEYPOT,
        "action": f"/f/{form.id}",
    }


_NOT_FOUND = (N_("Not found"), N_("This form does not exist."))


def _landing(
    state: AppState,
    form: FormConfig,
    request: Request,
    locale: str,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    context = _page_context(form, request, values, errors)
    # carried into the post (the form's own locale field, if it has one, does that itself)
    if form.field("locale") is None:
        context["hidden"]["locale"] = locale
    return state.pages.render(
        form.landing_template, status_code, locale=locale, declared=form.locales, **context
    )


@router.get("/f/{form_id}", include_in_schema=False)
async def landing_page(form_id: str, request: Request, state: AppState = Depends(get_state)):
    """The landing page in ``?lang=``, else the browser's language, else the form's first."""
    form = _form(state, form_id)
    if form is None:
        return state.pages.message(state.browser_locale(request), *_NOT_FOUND, 404)
    locale = state.browser_locale(request, form.locales)
    return _landing(state, form, request, locale, {}, {})


@router.options("/f/{form_id}", include_in_schema=False)
async def preflight(form_id: str, request: Request, state: AppState = Depends(get_state)):
    form = _form(state, form_id)
    origin = _origin_ok(request, state, form) if form else None
    if not origin:
        return Response(status_code=403 if origin is None else 204)
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


def _json_errors(errors: dict[str, str], status: int = 422) -> JSONResponse:
    body = ErrorsOut(detail=[{"loc": ["body", k], "msg": v} for k, v in errors.items()])
    return JSONResponse(body.model_dump(), status_code=status)


async def _read_body(request: Request) -> tuple[bool, dict[str, Any]]:
    """(is_json, data); raises FormErrors for a body that is not what it claims."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            payload = json.loads(await request.body() or b"null")
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
            raise FormErrors({"body": "not valid JSON"}) from None
        try:
            model = SubmissionIn.model_validate(payload)
        except ValidationError as exc:
            raise FormErrors(
                {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
            ) from None
        return True, model.model_dump(exclude_none=True)
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return False, {k: v for k, v in form.items() if isinstance(v, str)}
    raise UnsupportedMediaType(ctype)


class UnsupportedMediaType(ValueError):
    pass


def _referred_by(state: AppState, token: Any) -> str | None:
    """The referrer's public id from a referral token; a forged or garbled one is ignored (the
    person still signs up, nobody gets the credit)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    try:
        return state.links.read_referral(token)
    except InvalidToken:
        return None


@router.post(
    "/f/{form_id}",
    status_code=201,
    response_model=SubmissionOut,
    responses={
        303: {"description": "Browser post: to the thank-you page"},
        404: {"model": ErrorsOut},
        403: {"model": ErrorsOut},
        415: {"model": ErrorsOut},
        422: {"model": ErrorsOut},
    },
    openapi_extra=_BODY,
    summary="Submit a form (JSON for APIs, urlencoded for browsers)",
)
async def submit(
    form_id: str,
    request: Request,
    background: BackgroundTasks,
    state: AppState = Depends(get_state),
) -> Response:
    form = _form(state, form_id)
    if form is None:
        return _json_errors({"form_id": f"no form {form_id!r}"}, 404)
    origin = _origin_ok(request, state, form)
    if origin is None:
        return _json_errors({"origin": "this site may not post this form"}, 403)
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}
    is_json = True
    try:
        is_json, data = await _read_body(request)
        sub = Submission(
            form.id,
            data,
            utcnow(),
            client_ip(request),
            request.headers.get("user-agent"),
            request.headers.get("referer"),
            _referred_by(state, data.get(REFERRAL_FIELD)),
            request.headers.get("accept-language"),
        )
        prepared = prepare(state.project(), sub)
        if prepared is None:  # a bot filled the honeypot: answer as usual, keep nothing
            result, lead = CaptureResult(lead_public_id=None, spam=True), None
        else:
            result, lead_row = await state.writer(CAPTURES).submit(prepared)
            lead = {**lead_context(lead_row), "id": lead_row.id, "locale": result.locale}
    except UnsupportedMediaType:
        response = _json_errors({"body": "send application/json or a urlencoded form"}, 415)
        response.headers.update(cors)
        return response
    except FormErrors as exc:
        if is_json:
            response = _json_errors(exc.errors)
            response.headers.update(cors)
            return response
        locale = _posted_locale(form, data) or state.browser_locale(request, form.locales)
        shown = {k: translate(locale, m, **v) for k, (m, v) in exc.messages.items()}
        return _landing(state, form, request, locale, dict(data), shown, 422)
    if result.needs_confirmation and lead is not None:
        background.add_task(_confirm_mail, state, form, lead, result)
    if not is_json:
        shown = prepared.shown if prepared else _posted_locale(form, data) or form.locales[0]
        # the thank-you page in the language of the page posted from (if there is a choice)
        query = f"?lang={shown}" if len(form.locales) > 1 else ""
        target = form.thank_you.redirect_url or f"/f/{form.id}/thanks{query}"
        return RedirectResponse(target, status_code=303)
    status = (
        "received"
        if result.spam
        else "pending_confirmation"
        if result.needs_confirmation
        else "subscribed"
    )
    body = SubmissionOut(lead_id=result.lead_public_id, status=status, enrolled=result.enrolled)
    return JSONResponse(body.model_dump(), status_code=201, headers=cors)


async def _confirm_mail(
    state: AppState, form: FormConfig, lead: dict[str, Any], result: CaptureResult
) -> None:
    message = confirmation_message(
        state.composer, state.project(), form, lead, result.consent_id or 0, utcnow()
    )
    sent, reply = await send_confirmation(state.settings.mail_url.get_secret_value(), message)
    kind = EventType.CONFIRMATION_SENT if sent else EventType.CONFIRMATION_FAILED
    row = event_row(lead["id"], kind, utcnow(), form=form.id, reply=reply[:200])
    await state.writer(CONFIRMATION_EVENTS).submit(row)


def _posted_locale(form: FormConfig, data: dict[str, Any]) -> str | None:
    """The locale of the page a browser posted from (its hidden or own ``locale`` field)."""
    code = normalize(data.get("locale")) if isinstance(data.get("locale"), str) else None
    return resolve(code, form.locales) if code else None


@router.get("/f/{form_id}/thanks", include_in_schema=False)
async def thanks(form_id: str, request: Request, state: AppState = Depends(get_state)):
    form = _form(state, form_id)
    if form is None:
        return state.pages.message(state.browser_locale(request), *_NOT_FOUND, 404)
    locale = state.browser_locale(request, form.locales)
    page = form.thank_you
    return state.pages.text_page(
        locale,
        localized(page.title, locale, form.locales),
        localized(page.message, locale, form.locales),
    )


CONFIRMED = N_("Thank you for confirming")


def _confirmed_page(state: AppState, form: FormConfig, lead_locale: str | None) -> Response:
    """After the double opt-in: in the lead's locale, by the form's chain."""
    if form.confirmed.redirect_url:
        return RedirectResponse(form.confirmed.redirect_url, status_code=303)
    locale = resolve(lead_locale, form.locales)
    page = form.confirmed
    title = (
        translate(locale, CONFIRMED)
        if page.title is None
        else localized(page.title, locale, form.locales)
    )
    return state.pages.text_page(locale, title, localized(page.message, locale, form.locales))


def _bad_link(state: AppState, request: Request, exc: Exception) -> Response:
    message = str(exc) if isinstance(exc, ConfirmError) else N_("This link is invalid.")
    return state.pages.message(state.browser_locale(request), N_("Invalid link"), message, 404)


@router.get("/c/{token}", include_in_schema=False)
async def confirm_page(token: str, request: Request, state: AppState = Depends(get_state)):
    """The link in the confirmation email shows a button and changes nothing: mail gateways
    fetch every link of an incoming email, and a fetch must not confirm anyone."""
    max_age = timedelta(days=state.settings.confirmation_max_age_days)
    try:
        consent_id = state.links.read_confirm(token)
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            pending = await pending_confirmation(
                session, state.project(), consent_id, utcnow(), max_age
            )
    except (InvalidToken, ConfirmError) as exc:
        return _bad_link(state, request, exc)
    if pending.confirmed:
        return _confirmed_page(state, pending.form, pending.locale)
    form = pending.form
    return state.pages.render(
        "confirm.html.j2",
        locale=resolve(pending.locale, form.locales),
        declared=form.locales,
        form=form,
        email=mask_email(pending.email),
        action=f"/c/{token}",
    )


@router.post("/c/{token}", include_in_schema=False)
async def confirm_link(token: str, request: Request, state: AppState = Depends(get_state)):
    """The person's press of the button: the double opt-in, with the request's time, IP and
    user agent on the consent."""
    max_age = timedelta(days=state.settings.confirmation_max_age_days)
    try:
        consent_id = state.links.read_confirm(token)
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            lead, form, _ = await confirm(
                session,
                state.project(),
                consent_id,
                client_ip(request),
                request.headers.get("user-agent"),
                utcnow(),
                max_age,
                state.settings.resolved_secret_key(),
            )
            locale = lead.locale
    except (InvalidToken, ConfirmError) as exc:
        return _bad_link(state, request, exc)
    return _confirmed_page(state, form, locale)
