"""The bearer check of the HTTP APIs that take ``NURTURE_API_KEY`` (CRM, generic mail events)."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from nurture.web.errors import error_response


def bearer_authorised(request: Request, key: SecretStr) -> bool:
    """``Authorization: Bearer <key>``, compared in constant time; never with an empty key."""
    wanted = key.get_secret_value()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return (
        bool(wanted)
        and scheme.lower() == "bearer"
        and secrets.compare_digest(given.strip().encode(), wanted.encode())
    )


def unauthorised() -> JSONResponse:
    """The 401 of an API route whose bearer check failed."""
    return error_response(
        401, ["header", "authorization"], "a valid 'Bearer <NURTURE_API_KEY>' is required"
    )
