"""``/preview/``: the sequences, each one's emails in every locale and variant with its send
date, and each email's HTML on its own page. For marketers and operators (access.py says
who); the page text is English, the emails are in their own languages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nurture.config.project import Project
from nurture.config.yamlfile import ConfigError
from nurture.db import utcnow
from nurture.preview.access import COOKIE, Access, access, cookie_value
from nurture.preview.service import NotFound, one_email, preview_sequence, summaries
from nurture.web.state import AppState, Pages, get_state

router = APIRouter(prefix="/preview", include_in_schema=False)
# The preview's own pages ship with nurture: they are no project's content to edit.
PAGES = Pages(Path(__file__).parent / "templates")
UI_LOCALE = "en"
# The pages: no script at all; the emails' inline styles and remote images in their frames
# (a srcdoc frame takes its page's policy).
PAGE_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# One email's HTML alone: what a mail client would show, nothing it could run.
EMAIL_CSP = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'"
HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(name: str, status: int = 200, **context: object) -> HTMLResponse:
    response = PAGES.render(name, status, locale=UI_LOCALE, **context)
    response.headers.update(HEADERS)
    return response


def _message(title: str, message: str, status: int, details: str = "") -> HTMLResponse:
    return _page("message.html.j2", status, title=title, message=message, details=details)


def _project(state: AppState) -> Project | HTMLResponse:
    """The project as the files are, or a page with its problems: while editing, a broken
    file is the likeliest thing to see here, and `nurture config check`'s list says where
    (the forms and the passes meanwhile keep the last good config)."""
    try:
        return state.working_project()
    except ConfigError as exc:
        return _message(
            "The config does not load",
            "Fix these and reload (meanwhile the running system keeps the last good config):",
            500,
            str(exc),
        )


def _guard(request: Request, state: AppState) -> Response | None:
    """None: go on; else the answer (a 403 page, or the redirect that sets the cookie)."""
    key = state.settings.api_key
    verdict = access(request, key)
    if verdict.allowed:
        return None
    if verdict is Access.NEW_KEY:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "key"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303, headers=HEADERS)
        response.set_cookie(
            COOKIE,
            cookie_value(key),
            path="/preview",
            httponly=True,
            samesite="strict",
            secure=state.settings.base_url.startswith("https://"),
        )
        return response
    if not key.get_secret_value():
        how = (
            "The preview opens only on this machine (http://127.0.0.1, not through a proxy). "
            "To open it from elsewhere, set NURTURE_API_KEY and open /preview/?key=<the key> "
            "once."
        )
    elif verdict is Access.WRONG_KEY:
        how = "That key is not NURTURE_API_KEY. Open /preview/?key=<NURTURE_API_KEY> once."
    else:
        how = (
            "The preview opens without a key only on this machine, not through a proxy. "
            "Open /preview/?key=<NURTURE_API_KEY> once (a cookie keeps you in), or send "
            "Authorization: Bearer <NURTURE_API_KEY>."
        )
    return _message("No access to the preview", how, 403)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, state: AppState = Depends(get_state)) -> Response:
    refused = _guard(request, state)
    if refused is not None:
        return refused
    project = _project(state)
    if isinstance(project, HTMLResponse):
        return project
    return _page("index.html.j2", title="Preview", sequences=summaries(project))


@router.get("/{sequence_id}", response_class=HTMLResponse)
async def sequence_page(
    request: Request,
    sequence_id: str,
    start: str | None = None,
    sample: str = "full",
    state: AppState = Depends(get_state),
) -> Response:
    refused = _guard(request, state)
    if refused is not None:
        return refused
    project = _project(state)
    if isinstance(project, HTMLResponse):
        return project
    try:
        preview = preview_sequence(
            project, state.working_composer(), sequence_id, start, utcnow(), sample
        )
    except NotFound as exc:
        return _message("Not found", str(exc), 404)
    except ValueError as exc:  # the sample start (service.sample_start)
        return _message("Not a start date", str(exc), 400)
    return _page("sequence.html.j2", title=preview.sequence.name, preview=preview)


async def _email(
    request: Request,
    state: AppState,
    sequence_id: str,
    step_id: str,
    locale: str,
    variant: str | None,
    sample: str,
) -> Response:
    refused = _guard(request, state)
    if refused is not None:
        return refused
    project = _project(state)
    if isinstance(project, HTMLResponse):
        return project
    try:
        email = one_email(
            project, state.working_composer(), sequence_id, step_id, locale, variant, sample
        )
    except NotFound as exc:
        return _message("Not found", str(exc), 404)
    if email.rendered is None:
        return _message("The template failed", email.error or "", 500)
    headers = {**HEADERS, "Content-Security-Policy": EMAIL_CSP, "Content-Language": locale}
    return HTMLResponse(email.rendered.html, headers=headers)


@router.get("/{sequence_id}/{step_id}/{locale}.html", response_class=HTMLResponse)
async def email_html(
    request: Request,
    sequence_id: str,
    step_id: str,
    locale: str,
    sample: str = "full",
    state: AppState = Depends(get_state),
) -> Response:
    """A step without variants."""
    return await _email(request, state, sequence_id, step_id, locale, None, sample)


@router.get("/{sequence_id}/{step_id}/{locale}/{variant}.html", response_class=HTMLResponse)
async def variant_html(
    request: Request,
    sequence_id: str,
    step_id: str,
    locale: str,
    variant: str,
    sample: str = "full",
    state: AppState = Depends(get_state),
) -> Response:
    """One variant of a step with an experiment."""
    return await _email(request, state, sequence_id, step_id, locale, variant, sample)
