"""HTTP: POST /api/track (Segment-spec identify, track and page calls; one or a batch) and
GET /t.js (the first-party snippet a website includes to send page views)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from functools import lru_cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import utcnow
from nurture.visitors.service import COOKIE, COOKIE_MAX_AGE
from nurture.web.auth import bearer_authorised
from nurture.web.errors import ErrorsOut
from nurture.web.state import AppState, Writer, get_state
from nurture.website.schemas import CallIn, TrackOut
from nurture.website.service import Batch, CallErrors, Outcome, check, errors_body, parse, write

router = APIRouter()

MAX_BODY = 1024 * 1024  # a batch of 500 calls of up to 2 KB each, with room


async def _write(_state: AppState, session: AsyncSession, batches: list[Batch]) -> list[Outcome]:
    return await write(session, batches)


# Batches arrive in bursts (every page view of every visitor): written in group commits.
TRACK: Writer[Batch, Outcome] = Writer("track", _write)

# Browsers post from the website's origin; the write key is public and no cookies are read.
_CORS = {"Access-Control-Allow-Origin": "*"}


def _errors(status: int, errors: list[tuple[list[str | int], str]]) -> JSONResponse:
    body = ErrorsOut(detail=errors_body(errors)).model_dump()  # type: ignore[arg-type]
    return JSONResponse(body, status, headers=_CORS)


def _write_key(request: Request, body: object) -> str | None:
    """The write key as Segment's libraries send it: HTTP Basic username, or writeKey in the
    body (t.js: sendBeacon cannot set headers)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
    key = body.get("writeKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


def _is_write_key(state: AppState, given: str | None) -> bool:
    key = state.settings.tracking_key
    return bool(key) and given is not None and secrets.compare_digest(given.encode(), key.encode())


def _declines(request: Request) -> bool:
    """The browser says Do Not Track or Global Privacy Control (t.js sends nothing then; this
    covers other clients)."""
    return request.headers.get("dnt") == "1" or request.headers.get("sec-gpc") == "1"


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` put in place: in the OpenAPI document a
    ``#/$defs/...`` reference would point at the document's root."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


_CALL = _inline(CallIn.model_json_schema())
_BODY = {
    "anyOf": [
        _CALL,
        {
            "type": "object",
            "properties": {"batch": {"type": "array", "items": _CALL, "maxItems": 500}},
            "required": ["batch"],
        },
    ]
}


@router.post(
    "/api/track",
    response_model=TrackOut,
    responses={
        400: {"model": ErrorsOut},
        401: {"model": ErrorsOut},
        403: {"model": ErrorsOut},
        413: {"model": ErrorsOut},
        422: {"model": ErrorsOut},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}}
    },
    summary="Segment-spec identify, track and page calls, one or {batch: [...]}",
)
async def track(request: Request, state: AppState = Depends(get_state)) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _errors(413, [(["body"], f"at most {MAX_BODY} bytes; send smaller batches")])
    server = bearer_authorised(request, state.settings.api_key)
    try:
        body = parse(raw)
    except CallErrors as exc:
        return _errors(400, exc.errors)
    if not server:
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            return _errors(401, [(["header", "authorization"], "not the API key")])
        if not _is_write_key(state, _write_key(request, body)):
            reason = "send 'Authorization: Bearer <NURTURE_API_KEY>' or the tracking write key"
            return _errors(401, [(["header", "authorization"], reason)])
    now = utcnow()
    try:
        calls, locs = check(body, browser=not server, now=now)
    except CallErrors as exc:
        return _errors(exc.status, exc.errors)
    if not server and _declines(request):
        return JSONResponse(TrackOut(accepted=0, ignored=len(calls)).model_dump(), headers=_CORS)
    outcome = await state.writer(TRACK).submit(Batch(calls, locs, now))
    if outcome.errors:
        return _errors(422, outcome.errors)
    out = TrackOut(accepted=outcome.accepted, duplicates=outcome.duplicates)
    return JSONResponse(out.model_dump(), headers=_CORS)


@router.options("/api/track", include_in_schema=False)
async def track_preflight() -> Response:
    # Segment's analytics.js posts JSON with a write key header: a preflighted request.
    return Response(
        status_code=204,
        headers={
            **_CORS,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


@lru_cache(maxsize=8)
def snippet(key: str, domain: str) -> tuple[str, str]:
    """t.js with the write key and cookie domain in it, and its ETag."""
    source = files("nurture.website").joinpath("t.js").read_text(encoding="utf-8")
    text = (
        source.replace("__KEY__", json.dumps(key))
        .replace("__DOMAIN__", json.dumps(domain))
        .replace("__COOKIE__", json.dumps(COOKIE))
        .replace("__MAX_AGE__", str(COOKIE_MAX_AGE))
    )
    return text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


@router.get("/t.js", include_in_schema=False)
async def script(request: Request, state: AppState = Depends(get_state)) -> Response:
    text, etag = snippet(state.settings.tracking_key, state.settings.tracking_cookie_domain)
    # An hour: a new key or domain reaches every site within it; revalidating is a 304.
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        **_CORS,
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(text, media_type="application/javascript; charset=utf-8", headers=headers)
