"""What an SMTP result means for its touch, as a pure function: the rules of the "SMTP replies"
table in docs/delivery.md. The transport says what it knows happened to a message
(mail/backend.py); ``classify`` says where that leaves the touch; dispatch/record.py writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from nurture.ledger.models import TouchState
from nurture.mail.backend import SendResult, SendStatus


class OutcomeKind(StrEnum):
    """What a pass did with a touch, as its report counts it: the touch's new state, or
    ``released``, an outcome and not a state: never handed over, due again as it was."""

    SENT = TouchState.SENT
    RETRYING = TouchState.RETRYING
    BOUNCED = TouchState.BOUNCED
    SKIPPED = TouchState.SKIPPED
    IN_DOUBT = TouchState.IN_DOUBT
    RELEASED = "released"
    # Not sent now, by the contact policy (cap, quiet day), the lead's pause or a
    # higher-priority sequence: due again at the next allowed slot, never dropped.
    DEFERRED = "deferred"


RELEASED = OutcomeKind.RELEASED


@dataclass(frozen=True)
class Policy:
    retry_base_seconds: int
    max_attempts: int

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th attempt got a 4xx: the base, doubling each time."""
        return timedelta(seconds=self.retry_base_seconds * 2 ** (attempts - 1))


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where one SMTP result leaves its touch. ``kind``: the touch's new state (sent,
    retrying, bounced, in_doubt) or ``released``; it is also what the report counts."""

    kind: OutcomeKind
    reason: str | None = None
    due_at: datetime | None = None  # retrying: due again then

    @property
    def hard_bounce(self) -> bool:
        """The address is suppressed and every enrollment of the lead ends."""
        return self.reason == "hard_bounce"

    @property
    def soft_bounce(self) -> bool:
        """4xx until the last attempt: this enrollment ends, the address stays usable."""
        return self.reason == "soft_bounce"

    @property
    def may_have_arrived(self) -> bool:
        """The server has (or may have) the message: its Message-ID is kept."""
        return self.kind in (OutcomeKind.SENT, OutcomeKind.IN_DOUBT)


SENT = Outcome(OutcomeKind.SENT)
HARD_BOUNCE = Outcome(OutcomeKind.BOUNCED, "hard_bounce")
SOFT_BOUNCE = Outcome(OutcomeKind.BOUNCED, "soft_bounce")
IN_DOUBT = Outcome(OutcomeKind.IN_DOUBT, "connection lost during DATA")
NOT_HANDED_OVER = Outcome(RELEASED)


def classify(
    result: SendResult,
    attempts: int,
    policy: Policy,
    retry_due: Callable[[timedelta], datetime],
) -> Outcome:
    """The outcome of ``result``. ``attempts``: SMTP attempts at this touch, this one
    included. ``retry_due(delay)``: when a retry that waits ``delay`` is due (the step's send
    window in the lead's timezone); asked only for a retry."""
    status = result.status
    if status == SendStatus.SENT:
        return SENT
    if status == SendStatus.RETRY:
        if attempts < policy.max_attempts:
            due = retry_due(policy.retry_delay(attempts))
            return Outcome(OutcomeKind.RETRYING, "smtp_4xx", due)
        return SOFT_BOUNCE
    if status == SendStatus.BOUNCED:
        return HARD_BOUNCE
    if status == SendStatus.IN_DOUBT:
        return IN_DOUBT
    return NOT_HANDED_OVER  # not_sent: the server could not be reached for it
