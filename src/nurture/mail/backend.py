"""What every mail transport is: ``open``, ``send(batch)``, ``close`` (Django's email backend
shape), and the result it gives for each message.

Each result says what we *know* happened to a message, which is what delivery guarantees are
built on (docs/delivery.md; nurture.dispatch.outcome turns a result into the touch's outcome):

- ``sent``: the server accepted it (2xx after DATA);
- ``retry``: a 4xx reply, or the connection failed before DATA began: safe to send again later;
- ``bounced``: a 5xx reply for this recipient or message;
- ``in_doubt``: the connection broke or timed out during DATA: the server may have it;
- ``not_sent``: never attempted because the server could not be reached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from nurture.mail.message import OutgoingMessage


class SendStatus(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    BOUNCED = "bounced"
    IN_DOUBT = "in_doubt"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class SendResult:
    message: OutgoingMessage
    status: SendStatus
    code: int | None = None
    reply: str = ""


class TransportUnavailable(RuntimeError):
    """The mail server cannot be reached at all: nothing was handed over."""


class Transport(ABC):
    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect ahead of sending; raise TransportUnavailable if that is impossible."""

    @abstractmethod
    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        """Send every message; one result per message, in the batch's order."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
