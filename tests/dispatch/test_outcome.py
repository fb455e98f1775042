"""What an SMTP result means for its touch (docs/delivery.md, "SMTP replies"): the pure
classification, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nurture.dispatch.outcome import RELEASED, Outcome, Policy, classify
from nurture.mail.backend import SendStatus
from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import SendResult
from nurture.reporting.dispatch import OUTCOMES

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POLICY = Policy(retry_base_seconds=900, max_attempts=3)
MESSAGE = OutgoingMessage("news@example.com", "lead@example.com", b"x\r\n", "<m@example.com>")


def result(status: SendStatus, code: int | None = None) -> SendResult:
    return SendResult(MESSAGE, status, code, "reply")


def no_retry(delay: timedelta) -> datetime:
    raise AssertionError("only a retry asks when it is due")


def at_once(delay: timedelta) -> datetime:
    return NOW + delay


@pytest.mark.parametrize(
    ("status", "code", "attempts", "expected"),
    [
        ("sent", 250, 1, Outcome("sent")),
        ("sent", 252, 3, Outcome("sent")),  # any 2xx, on any attempt
        ("bounced", 550, 1, Outcome("bounced", "hard_bounce")),
        ("bounced", 554, 3, Outcome("bounced", "hard_bounce")),
        ("in_doubt", None, 1, Outcome("in_doubt", "connection lost during DATA")),
        ("in_doubt", -1, 3, Outcome("in_doubt", "connection lost during DATA")),  # malformed
        ("not_sent", None, 1, Outcome(RELEASED)),
        ("not_sent", 550, 3, Outcome(RELEASED)),  # sender refused: not the lead's attempt
        ("retry", 451, 3, Outcome("bounced", "soft_bounce")),  # the last attempt
        ("retry", None, 4, Outcome("bounced", "soft_bounce")),
    ],
)
def test_a_result_that_is_not_a_retry(
    status: SendStatus, code: int | None, attempts: int, expected: Outcome
) -> None:
    assert classify(result(status, code), attempts, POLICY, no_retry) == expected


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, timedelta(minutes=15)), (2, timedelta(minutes=30))],  # the base, then doubled
)
def test_a_retry_before_the_last_attempt_is_due_after_the_backoff(
    attempts: int, delay: timedelta
) -> None:
    outcome = classify(result("retry", 451), attempts, POLICY, at_once)
    assert outcome == Outcome("retrying", "smtp_4xx", NOW + delay)


def test_a_retry_is_due_when_the_send_window_says() -> None:
    """The due time comes from ``retry_due`` (the step's send window), not from the delay."""
    next_morning = NOW + timedelta(days=1)
    asked: list[timedelta] = []

    def window(delay: timedelta) -> datetime:
        asked.append(delay)
        return next_morning

    outcome = classify(result("retry", 421), 1, Policy(60, 5), window)
    assert outcome.due_at == next_morning and asked == [timedelta(seconds=60)]


def test_bounces_say_which_kind_and_what_may_have_arrived() -> None:
    hard = classify(result("bounced", 550), 1, POLICY, no_retry)
    soft = classify(result("retry", 450), POLICY.max_attempts, POLICY, no_retry)
    assert (hard.hard_bounce, hard.soft_bounce) == (True, False)
    assert (soft.hard_bounce, soft.soft_bounce) == (False, True)
    arrived = {s: classify(result(s), 1, POLICY, at_once).may_have_arrived for s in SendStatus}
    expected = {"sent": True, "in_doubt": True, "retry": False, "bounced": False}
    assert arrived == {**expected, "not_sent": False}


def test_every_status_has_an_outcome_the_report_counts() -> None:
    kinds = {classify(result(s), 1, POLICY, at_once).kind for s in SendStatus}
    assert kinds == {"sent", "retrying", "bounced", "in_doubt", RELEASED}
    assert kinds <= set(OUTCOMES)
