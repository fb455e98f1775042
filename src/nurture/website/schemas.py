"""The body of POST /api/track: Segment-spec calls, one or ``{"batch": [...]}``. Fields
Segment's libraries send that we do not use (integrations, context.library, channel, ...)
are allowed and ignored."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from nurture.visitors.service import ANONYMOUS_ID

Text = Annotated[str, Field(max_length=2000)]


class CallType(StrEnum):
    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"


class PageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    url: Text | None = None
    path: Text | None = None
    title: Text | None = None
    referrer: Text | None = None


class ContextIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    page: PageIn = PageIn()


class CallIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: CallType
    userId: Annotated[str, Field(min_length=1, max_length=320)] | None = Field(
        None, description="Our lead's id (the lead_id a form post returned) or its address."
    )
    anonymousId: Annotated[str, Field(pattern=ANONYMOUS_ID.pattern)] | None = Field(
        None, description="The browser's id (t.js: the nurture_aid cookie)."
    )
    messageId: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Unique per call: a call sent again with it is recorded once."
    )
    timestamp: datetime | None = Field(None, description="When it happened (default: now).")
    sentAt: datetime | None = Field(
        None, description="When the client sent it: corrects the timestamp for its clock."
    )
    event: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="track: the event's name, e.g. 'Demo Booked' (custom.demo_booked)."
    )
    name: Annotated[str, Field(max_length=200)] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: ContextIn = ContextIn()


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(max_length=500)


class TrackOut(BaseModel):
    success: bool = True
    accepted: int = Field(description="Calls taken (recorded or joined).")
    duplicates: int = Field(0, description="Calls whose messageId was seen before.")
    ignored: int = Field(0, description="Browser calls dropped for Do Not Track / GPC.")
