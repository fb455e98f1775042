"""A provider-neutral shape, for a relay or a provider without its own module, behind the
bearer ``NURTURE_API_KEY``::

    {"events": [{"id": "evt-1", "type": "hard_bounce", "message_id": "<…@example.com>",
                 "email": "anna@example.com", "occurred_at": "2026-11-23T09:00:00Z",
                 "detail": "550 5.1.1 user unknown"}]}

``type``: ``hard_bounce`` | ``soft_bounce`` | ``complaint``; ``id``: the replay key (the same
id again records nothing); ``message_id`` (our Message-ID, with or without <>) or ``email``
names the send or the lead; ``occurred_at`` defaults to now (and is taken as now when more
than 5 minutes ahead or more than a year old); unknown fields are refused.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, model_validator

from nurture.feedback.service import Feedback, FeedbackKind
from nurture.mailevents.common import Notice, Payload, load_json, replay_key, timestamp, validate

SOURCE = "generic"


class GenericEvent(Payload):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    type: FeedbackKind
    message_id: str | None = Field(None, max_length=998)
    email: str | None = Field(None, max_length=320)
    occurred_at: datetime | None = None
    detail: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _names_a_send(self) -> GenericEvent:
        if not (self.message_id or self.email):
            raise ValueError("give message_id or email")
        return self


class GenericEvents(Payload):
    model_config = ConfigDict(extra="forbid")

    events: list[GenericEvent] = Field(min_length=1, max_length=10_000)


def read(body: bytes, now: datetime) -> list[Notice]:
    events = validate(GenericEvents, load_json(body)).events
    return [
        Notice(
            replay_key(e.id),
            [
                Feedback(
                    e.type,
                    timestamp(e.occurred_at, now),
                    SOURCE,
                    message_id=e.message_id,
                    email=e.email,
                    detail=e.detail,
                )
            ],
        )
        for e in events
    ]
