"""Signed, URL-safe tokens for links in emails (confirm, unsubscribe).

Tokens carry only opaque ids (a lead's random public id, a consent row id) and a purpose; the
signature makes them unforgeable and a token for one purpose useless for another.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer


class InvalidToken(ValueError):
    pass


class Tokens:
    def __init__(self, secret_key: str):
        self.secret_key = secret_key

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=f"nurture.{purpose}")

    def make(self, purpose: str, payload: Any) -> str:
        return str(self._serializer(purpose).dumps(payload))

    def read(self, purpose: str, token: str, max_age_seconds: int | None = None) -> Any:
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_seconds)
        except BadSignature:  # also covers expiry (SignatureExpired is a BadSignature)
            raise InvalidToken(purpose) from None
