"""What the report models share: an immutable, closed base and the field types whose JSON
Schema says what a number means (a count is never negative, a rate may be missing)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema


def _open_to_additions(schema: dict[str, Any]) -> None:
    # A format version only ever gains fields: a reader of the schema must accept more.
    schema.pop("additionalProperties", None)


class ReportModel(BaseModel):
    """A part of a report: built once by a service, read by formatters and flows."""

    # Closed when built (a misspelt field is an error, not a silent extra key), open in the
    # published schema, immutable. Names that are Python keywords (``from``) are aliases:
    # JSON and the schema use the alias.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_open_to_additions,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# ``datetime.isoformat()`` ("+00:00"), as the JSON format has always written instants;
# pydantic's own JSON form would write "Z".
Instant = Annotated[
    AwareDatetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Count = Annotated[int, Field(ge=0)]
# A share as a fraction (0.75 = 75 %), rounded to 4 places; None when nothing to divide by.
Rate = Annotated[float, Field(ge=0)] | None
Seconds = Annotated[float, Field(ge=0)] | None
