"""``/preview/``: the sequences, each one's emails in every locale and variant with its send
date, and each email's HTML on its own page. For marketers and operators (access.py says
who); the page text is English, the emails are in their own languages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nurture.config.project import Project
from nurture.config.yamlfile import ConfigError
from nurture.db import utcnow
from nurture.preview.access import (
    COOKIE,
    Access,
    access,
    cookie_value,
    key_matches,
    safe_next,
    same_origin,
)
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
# One email's HTML alone: what a mail client would show, nothing it could run, submit or
# frame it (sandbox: an opaque origin, so not even a cookie of ours is in reach).
EMAIL_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)
# The sign-in form's body: a key and a path; anything bigger is not that form.
FORM_LIMIT = 4096
HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    # Nothing to other sites; same-origin, not no-referrer: under no-referrer a browser sends
    # "Origin: null" with the sign-in form, which same_origin() must refuse.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _page(name: str, status: int = 200, **context: object) -> HTMLResponse:
    response = PAGES.render(name, status, locale=UI_LOCALE, **context)
    response.headers.update(HEADERS)
    return response


def _message(
    title: str, message: str, status: int, details: str = "", signin: dict[str, str] | None = None
) -> HTMLResponse:
    """``signin``: show the key form, with its ``next`` path and an ``error`` line."""
    return _page(
        "message.html.j2", status, title=title, message=message, details=details, signin=signin
    )


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


def _set_cookie(response: Response, state: AppState) -> None:
    response.set_cookie(
        COOKIE,
        cookie_value(state.settings.api_key),
        path="/preview",
        httponly=True,
        samesite="strict",
        secure=state.settings.base_url.startswith("https://"),
    )


def _refused(has_key: bool, next_path: str, error: str = "") -> HTMLResponse:
    """The 403 page: how to get in; with a key configured, the form to type it into."""
    if not has_key:
        how = (
            "The preview opens only on this machine (http://127.0.0.1 or http://localhost, "
            "not through a proxy). To open it from elsewhere, set NURTURE_API_KEY."
        )
        return _message("No access to the preview", how, 403)
    how = (
        "The preview opens without a key only on this machine, not through a proxy. Enter "
        "NURTURE_API_KEY (a cookie keeps you in), or send Authorization: Bearer "
        "<NURTURE_API_KEY>."
    )
    return _message(
        "No access to the preview", how, 403, signin={"next": next_path, "error": error}
    )


def _guard(request: Request, state: AppState) -> Response | None:
    """None: go on; else the answer (a 400 for a key in the URL, else a 403 page)."""
    key = state.settings.api_key
    verdict = access(request, key)
    if verdict.allowed:
        return None
    if verdict is Access.KEY_IN_URL:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "key"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        return _message(
            "The key does not go in the address",
            "The preview no longer takes ?key= : a key in a URL lands in the access logs of "
            "nurture and of every proxy in between. If that was NURTURE_API_KEY, it is in "
            "them now: change it. Then open this page without ?key= and enter the key in the "
            "form there.",
            400,
            signin={"next": safe_next(target), "error": ""} if key.get_secret_value() else None,
        )
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    error = (
        "That key or cookie is not (or no longer) NURTURE_API_KEY."
        if verdict is Access.WRONG_KEY
        else ""
    )
    return _refused(bool(key.get_secret_value()), safe_next(next_path), error)


async def _form(request: Request) -> dict[str, list[str]] | None:
    """The sign-in form's fields, or None if the body is no small urlencoded form. Read by
    hand to stop at FORM_LIMIT bytes (``request.form()`` would read any length)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return None
    try:
        return parse_qs(body.decode("ascii"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None


@router.post("/key", response_class=HTMLResponse)
async def sign_in(request: Request, state: AppState = Depends(get_state)) -> Response:
    """The 403 page's form: the right key sets the cookie and goes (303) to ``next``."""
    key = state.settings.api_key
    if not same_origin(request, state.settings.base_url):
        # A page elsewhere posting here: it could only set a cookie for a key it knows,
        # still it has no business here.
        return _message("Not from this site", "Sign in from the preview's own page.", 403)
    fields = await _form(request)
    if fields is None:
        return _message(
            "Not a sign-in form",
            f"Send the form as application/x-www-form-urlencoded, at most {FORM_LIMIT} bytes.",
            400,
        )
    next_path = safe_next((fields.get("next") or [None])[0])
    if not key.get_secret_value():
        return _refused(False, next_path)
    if not key_matches((fields.get("key") or [""])[0], key):
        return _refused(True, next_path, "That is not NURTURE_API_KEY.")
    response = RedirectResponse(next_path, status_code=303, headers=HEADERS)
    _set_cookie(response, state)
    return response


def _allowed(request: Request, state: AppState) -> Project | Response:
    """The project for a request that may see the preview, else the answer to give: the
    access refusal (or the cookie's redirect), or the page with the config's problems."""
    refused = _guard(request, state)
    return refused if refused is not None else _project(state)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, state: AppState = Depends(get_state)) -> Response:
    project = _allowed(request, state)
    if isinstance(project, Response):
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
    project = _allowed(request, state)
    if isinstance(project, Response):
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
    project = _allowed(request, state)
    if isinstance(project, Response):
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
