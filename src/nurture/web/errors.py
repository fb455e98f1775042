"""The error body every JSON endpoint answers with: a message per field, FastAPI's shape."""

from __future__ import annotations

from pydantic import BaseModel


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = "value_error"


class ErrorsOut(BaseModel):
    detail: list[FieldError]
