"""The JSON body of POST /f/{form} (declared so API clients and schema tests know limits)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Short = Annotated[str, Field(max_length=200)]


class SubmissionIn(BaseModel):
    """Known fields are listed; a form's own extra fields (e.g. company_size) are allowed as
    strings of at most 2000 characters. Which are required depends on the form's config."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "additionalProperties": {
                "anyOf": [{"type": "string", "maxLength": 2000}, {"type": "boolean"}]
            }
        },
    )
    __pydantic_extra__: dict[str, Annotated[str, Field(max_length=2000)] | bool]

    email: Annotated[str, Field(max_length=320)]
    consent: bool = Field(description="The lead agrees to the form's consent text.")
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None
    company: Short | None = None
    job_title: Short | None = None
    country: Annotated[str, Field(max_length=100)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None
    referrer: Annotated[str, Field(max_length=2000)] | None = None
    anonymous_id: (
        Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9._:-]{1,64}$")] | None
    ) = Field(None, description="The browser's anonymous id (t.js, the nurture_aid cookie).")


class SubmissionOut(BaseModel):
    lead_id: str | None = Field(description="Opaque lead id; null when the post was ignored.")
    status: str = Field(description="pending_confirmation, subscribed or received")
    enrolled: list[str] = Field(default_factory=list)
