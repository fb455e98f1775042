"""Mailgun's webhooks: HMAC-SHA256 of timestamp and token with the signing key, stale
timestamps and reused tokens refused; event-data.id the replay key."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from nurture.db import session_scope
from nurture.feedback.service import FeedbackKind
from nurture.leads.events import EventType
from nurture.leads.models import SuppressionReason
from nurture.ledger.models import EnrollmentState
from nurture.mailevents import mailgun
from nurture.mailevents.common import Refused
from nurture.receipts import Receipt
from nurture.settings import Settings
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    MAILGUN_KEY,
    lead_state,
    mailgun_event,
    mailgun_signature,
    recorded,
)

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SEND = SimpleNamespace(id=17, email="anna@firma.de", message_id="<abc.1.def@planwerk.example>")
PATH = "/api/mail-events/mailgun"
SETTINGS = Settings(mailgun_signing_key=SecretStr(MAILGUN_KEY))


@pytest.mark.parametrize(
    ("event", "severity", "kind"),
    [
        ("failed", "permanent", FeedbackKind.HARD_BOUNCE),
        ("failed", "temporary", FeedbackKind.SOFT_BOUNCE),
        ("complained", None, FeedbackKind.COMPLAINT),
        ("delivered", None, None),
        ("opened", None, None),
        ("clicked", None, None),
        ("unsubscribed", None, None),
        ("accepted", None, None),
    ],
)
def test_event_kinds(event, severity, kind):
    data = mailgun_event(SEND, event, severity)
    body = json.dumps({"signature": mailgun_signature(), "event-data": data}).encode()
    raw, _ = mailgun.read_signature(body)
    notices = mailgun.notices(mailgun.read(raw), datetime.now(UTC))
    if kind is None:
        assert notices == []
        return
    [notice] = notices
    [item] = notice.items
    assert notice.key == "event:" + data["id"]
    # Mailgun reports the Message-ID without <>; the feedback service matches either.
    assert (item.kind, item.message_id, item.email) == (
        kind,
        SEND.message_id.strip("<>"),
        SEND.email,
    )


def test_the_signature_and_its_age():
    now = datetime.now(UTC)
    good = mailgun.Signature(**mailgun_signature())
    mailgun.verify(SETTINGS, good, now)
    wrong_key = mailgun.Signature(**mailgun_signature(key="another-key"))
    stale = mailgun.Signature(**mailgun_signature(stamp=int(time.time()) - 16 * 60))
    future = mailgun.Signature(**mailgun_signature(stamp=int(time.time()) + 16 * 60))
    altered = good.model_copy(update={"token": good.token + "x"})
    # Signed with the right key, but no time at all: refused, not taken as "now".
    nan = mailgun.Signature(**mailgun_signature(stamp="nan"))
    for signature in (wrong_key, stale, future, altered, nan):
        with pytest.raises(Refused):
            mailgun.verify(SETTINGS, signature, now)
    mailgun.verify(SETTINGS, stale, now - timedelta(minutes=10))  # it was fresh then


async def test_a_permanent_failure_suppresses_and_ends_the_drip(hooks, mail_settings):
    first, _ = await sent_touches(mail_settings, 2, MONDAY)
    body = {"signature": mailgun_signature(), "event-data": mailgun_event(first)}
    response = await hooks.client.post(PATH, json=body)
    assert response.status_code == 200, response.text
    state = await lead_state(mail_settings, first.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.enrollments == [EnrollmentState.EXITED]
    assert state.feedback == [(EventType.BOUNCED, first.id, "mailgun")]


async def test_temporary_failures_count_and_complaints_suppress(hooks, mail_settings):
    soft, spam = await sent_touches(mail_settings, 2, MONDAY)
    for _ in range(2):  # the configured limit: 2 within 7 days
        body = {
            "signature": mailgun_signature(),
            "event-data": mailgun_event(soft, "failed", "temporary"),
        }
        assert (await hooks.client.post(PATH, json=body)).status_code == 200
    assert (
        await lead_state(mail_settings, soft.lead_id)
    ).suppression_reason == SuppressionReason.BOUNCED
    body = {"signature": mailgun_signature(), "event-data": mailgun_event(spam, "complained", None)}
    await hooks.client.post(PATH, json=body)
    state = await lead_state(mail_settings, spam.lead_id)
    assert state.suppression_reason == SuppressionReason.COMPLAINED
    assert state.feedback == [(EventType.COMPLAINED, spam.id, "mailgun")]


async def test_bad_stale_or_reused_signatures_record_nothing(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    data = mailgun_event(send)
    for signature in (
        mailgun_signature(key="guessed"),
        mailgun_signature(stamp=int(time.time()) - 3600),
        {**mailgun_signature(), "signature": "0" * 64},
    ):
        response = await hooks.client.post(PATH, json={"signature": signature, "event-data": data})
        assert response.status_code == 401
        assert response.json()["detail"][0]["loc"][:2] == ["body", "signature"]
    assert await recorded(mail_settings) == (0, 0)
    # A token seen before (on an event that records nothing), on another event: refused,
    # and that event is not used up: with a fresh token it is recorded.
    signature = mailgun_signature()
    delivered = {"signature": signature, "event-data": mailgun_event(send, "delivered", None)}
    assert (await hooks.client.post(PATH, json=delivered)).status_code == 200
    failed = mailgun_event(send, "failed", "temporary")
    used = await hooks.client.post(PATH, json={"signature": signature, "event-data": failed})
    assert used.status_code == 401
    assert used.json()["detail"][0]["loc"] == ["body", "signature", "token"]
    assert (await recorded(mail_settings))[0] == 0
    fresh = {"signature": mailgun_signature(), "event-data": failed}
    assert (await hooks.client.post(PATH, json=fresh)).json()["new"] == 1
    state = await lead_state(mail_settings, send.lead_id)
    assert state.feedback == [(EventType.SOFT_BOUNCED, send.id, "mailgun")]


async def test_a_replay_records_nothing_new(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = {
        "signature": mailgun_signature(),
        "event-data": mailgun_event(send, "failed", "temporary"),
    }
    assert (await hooks.client.post(PATH, json=body)).json()["new"] == 1
    again = await hooks.client.post(PATH, json=body)
    assert again.status_code == 200 and again.json()["new"] == 0
    # Mailgun re-signing a retry: a fresh token, the same event: still nothing new.
    body["signature"] = mailgun_signature()
    assert (await hooks.client.post(PATH, json=body)).json()["new"] == 0
    assert len((await lead_state(mail_settings, send.lead_id)).feedback) == 1


async def test_without_a_signature_401_before_anything_is_read(hooks, mail_settings):
    # Nothing is read before the signature is: garbage, or an event without a signature,
    # is not authentic (401), whatever else is wrong with it.
    garbage = await hooks.client.post(PATH, content=b"event=failed&severity=permanent")
    assert garbage.status_code == 401 and "not JSON" in garbage.json()["detail"][0]["msg"]
    for body in (
        {"event-data": {"event": "failed"}},
        {"event-data": mailgun_event(SEND)},
        {"signature": {"timestamp": "1"}, "event-data": mailgun_event(SEND)},
        {"signature": "abc", "event-data": mailgun_event(SEND)},
        [],
    ):
        missing = await hooks.client.post(PATH, json=body)
        assert missing.status_code == 401, missing.text
        locs = [tuple(e["loc"][:2]) for e in missing.json()["detail"]]
        assert set(locs) == {("body", "signature")}
    assert await recorded(mail_settings) == (0, 0)


async def test_signed_garbage_answers_422_with_the_fields(hooks, mail_settings):
    signed = await hooks.client.post(
        PATH, json={"signature": mailgun_signature(), "event-data": {"event": "failed"}}
    )
    assert signed.status_code == 422
    locs = {tuple(e["loc"]) for e in signed.json()["detail"]}
    assert locs == {("body", "event-data", "id")}
    assert (await recorded(mail_settings))[0] == 0


async def test_without_its_key_mailgun_is_off(app_client):
    assert (await app_client.post(PATH, json={})).status_code == 404


async def receipts(settings) -> list[tuple[str, str]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(select(Receipt.source, Receipt.key).order_by(Receipt.key))
        return [tuple(r) for r in rows]


async def test_tokens_are_kept_only_while_they_could_be_replayed(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    first = mailgun_signature()
    body = {"signature": first, "event-data": mailgun_event(send, "delivered", None)}
    assert (await hooks.client.post(PATH, json=body)).status_code == 200
    # A delivery claims its token (its signature could carry a forged bounce), no event key.
    token = ("mailgun-token", "token:" + first["token"])
    assert await receipts(mail_settings) == [token]
    # Older than twice the signature's age: forgotten by the next request.
    async with session_scope(mail_settings.database_url.get_secret_value()) as session:
        await session.execute(
            update(Receipt).values(received_at=datetime.now(UTC) - timedelta(minutes=31))
        )
    bounce = mailgun_event(send, "failed", "temporary")
    second = mailgun_signature()
    assert (await hooks.client.post(PATH, json={"signature": second, "event-data": bounce})).json()[
        "new"
    ] == 1
    assert await receipts(mail_settings) == sorted(
        [("mailgun", "event:" + bounce["id"]), ("mailgun-token", "token:" + second["token"])],
        key=lambda r: r[1],
    )
    # One younger than that is kept, and its reuse refused.
    other = mailgun_event(send, "failed", "permanent")
    reused = await hooks.client.post(PATH, json={"signature": second, "event-data": other})
    assert reused.status_code == 401
    assert len(await receipts(mail_settings)) == 2
