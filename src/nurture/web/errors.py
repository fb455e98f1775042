"""The error body every JSON endpoint answers with: a message per field, FastAPI's shape."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str = "value_error"


class ErrorsOut(BaseModel):
    detail: list[FieldError]


def error_response(status: int, loc: list[str | int], msg: str) -> JSONResponse:
    """One field's error as the JSON body, with its status."""
    return JSONResponse(ErrorsOut(detail=[{"loc": loc, "msg": msg}]).model_dump(), status)
