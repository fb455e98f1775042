"""The bearer check of the HTTP APIs that take ``NURTURE_API_KEY`` (CRM, generic mail events)."""

from __future__ import annotations

import secrets

from fastapi import Request
from pydantic import SecretStr


def bearer_authorised(request: Request, key: SecretStr) -> bool:
    """``Authorization: Bearer <key>``, compared in constant time; never with an empty key."""
    wanted = key.get_secret_value()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return (
        bool(wanted)
        and scheme.lower() == "bearer"
        and secrets.compare_digest(given.strip().encode(), wanted.encode())
    )
