"""What a provider (or whoever holds its credential) may put into a payload never answers
500, on either database: touch ids that are no ASCII digits or too long for a bigint, times
out of range or far off, NUL bytes and lone surrogates in ids, addresses and details."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event
from nurture.mailevents import postmark, ses
from nurture.mailevents.common import clean, replay_key, timestamp, touch_id
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    API_KEY,
    lead_state,
    mailgun_event,
    mailgun_signature,
    postmark_auth,
    postmark_bounce,
    recorded,
    sendgrid_event,
    sendgrid_headers,
    ses_bounce,
    sns_envelope,
)
from tests.mailevents.test_ses import envelope

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SEND = SimpleNamespace(id=17, email="anna@firma.de", message_id="<abc.1.def@planwerk.example>")
# Digits to str.isdigit() but not to int(), signs, and more than a bigint holds.
NO_TOUCH = ["²", "١٧", "-17", "+17", " 17", "17\n", "1" * 19, "9" * 40, "", "17.0"]


@pytest.mark.parametrize("value", NO_TOUCH)
def test_no_touch_id_from_what_is_not_ascii_digits(value):
    assert touch_id(value) is None
    assert touch_id("17") == 17 and touch_id("9" * 18) == 10**18 - 1


@pytest.mark.parametrize("value", NO_TOUCH)
def test_postmark_and_ses_read_no_touch_from_odd_tags(value):
    body = json.dumps(postmark_bounce(SEND, Metadata={"nurture-touch": value})).encode()
    [notice] = postmark.read(body, NOW)
    assert notice.items[0].touch_id is None and notice.items[0].email == SEND.email
    odd = SimpleNamespace(**{**vars(SEND), "id": value})
    message = ses_bounce(odd, via="tags")
    [item] = ses.read_message(envelope(message), NOW).items
    assert item.touch_id is None


# Over HTTP, on both databases: the lead is found by the address instead.


@pytest.mark.parametrize("value", ["²", "9" * 19, "9" * 40])
async def test_odd_touch_ids_over_http_match_by_address(hooks, mail_settings, sns_key, value):
    first, second = await sent_touches(mail_settings, 2, MONDAY)
    body = postmark_bounce(first, Metadata={"nurture-touch": value})
    response = await hooks.client.post(
        "/api/mail-events/postmark", json=body, headers=postmark_auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert (await lead_state(mail_settings, first.lead_id)).feedback == [
        (EventType.BOUNCED, None, "postmark")
    ]
    odd = SimpleNamespace(email=second.email, message_id=None, id=value)
    signed = sns_envelope(sns_key, ses_bounce(odd, via="tags"))
    response = await hooks.client.post("/api/mail-events/ses", content=json.dumps(signed))
    assert response.status_code == 200, response.text
    assert (await lead_state(mail_settings, second.lead_id)).feedback == [
        (EventType.BOUNCED, None, "ses")
    ]


# Times: a provider's clock ahead of ours by more than the skew, or a date no report can
# have, is taken as now (as a missing one is); near year 1 or 9999 an offset overflows.
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59",
        "2027-11-23T10:00:00Z",  # a year ahead: would stay in the soft-bounce window
        "1970-01-01T00:00:00Z",
        "2026-11-23T10:06:00+00:00",  # six minutes ahead: more than the skew
        "not a time",
        10**20,
        -(10**20),
        float("nan"),
        253402300799,  # 9999-12-31 as Unix seconds
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_a_time_out_of_range_or_far_off_is_taken_as_now(value):
    assert timestamp(value, NOW) == NOW


def test_times_in_range_are_kept_in_utc():
    assert timestamp("2026-11-23T11:04:00+01:00", NOW) == datetime(2026, 11, 23, 10, 4, tzinfo=UTC)
    assert timestamp("2026-11-20T09:00:00", NOW) == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert timestamp(NOW.timestamp() - 3600, NOW) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert timestamp(None, NOW) == timestamp("", NOW) == NOW


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
async def test_times_at_the_ends_of_the_calendar_answer_200(hooks, mail_settings, occurred_at):
    one, two = await sent_touches(mail_settings, 2, MONDAY)
    events = {
        "events": [
            {"id": "e1", "type": "soft_bounce", "email": one.email, "occurred_at": occurred_at}
        ]
    }
    auth = {"authorization": f"Bearer {API_KEY}"}
    before = datetime.now(UTC)
    response = await hooks.client.post("/api/mail-events/generic", json=events, headers=auth)
    assert response.status_code == 200, response.text
    body = postmark_bounce(two, "SoftBounce", BouncedAt=occurred_at)
    response = await hooks.client.post(
        "/api/mail-events/postmark", json=body, headers=postmark_auth()
    )
    assert response.status_code == 200, response.text
    async with session_scope(mail_settings.database_url.get_secret_value()) as session:
        times = list(
            await session.scalars(
                select(Event.occurred_at).where(Event.type == EventType.SOFT_BOUNCED)
            )
        )
    assert len(times) == 2 and all(before <= t <= datetime.now(UTC) for t in times)


# NUL (PostgreSQL refuses it in text and JSONB) and lone surrogates (no UTF-8 for them) in
# what reaches a column, a lookup or a receipts key: never a 500. Both are made storable and
# the report recorded (200), but where a length is checked, pydantic finds a lone surrogate
# no string (422, nothing kept).
BAD = [("a\x00b", {200}), ("\ud800", {200, 422}), ("x\udfffy\x00", {200, 422})]
BAD.append(("\x00" * 190, {200}))


@pytest.mark.parametrize(("bad", "status"), BAD)
async def test_nul_and_surrogates_in_generic_events(hooks, mail_settings, bad, status):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    auth = {"authorization": f"Bearer {API_KEY}"}
    events = [
        {"id": f"id-{bad}", "type": "hard_bounce", "email": send.email, "detail": f"550 {bad}"},
        {"id": f"ms-{bad}", "type": "soft_bounce", "message_id": f"<{bad}@x>"},
        {"id": f"mail-{bad}", "type": "complaint", "email": f"{bad}@firma.de"},
    ]
    response = await hooks.client.post(
        "/api/mail-events/generic", content=json.dumps({"events": events}), headers=auth
    )
    assert response.status_code in status, response.text
    state = await lead_state(mail_settings, send.lead_id)
    if response.status_code != 200:
        assert await recorded(mail_settings) == (0, 0)
        return
    assert response.json()["recorded"] == 1 and response.json()["unmatched"] == 2
    assert state.feedback == [(EventType.BOUNCED, None, "generic")]
    again = await hooks.client.post(
        "/api/mail-events/generic", content=json.dumps({"events": events}), headers=auth
    )
    assert again.status_code == 200 and again.json()["new"] == 0


@pytest.mark.parametrize(("bad", "status"), BAD)
async def test_nul_and_surrogates_from_signed_providers(
    hooks, mail_settings, sns_key, sendgrid_key, bad, status
):
    one, two, three, four = await sent_touches(mail_settings, 4, MONDAY)
    answers = []
    pm = postmark_bounce(one, ID=f"pm-{bad}", Details=f"smtp;550 {bad}", Email=one.email)
    response = await hooks.client.post(
        "/api/mail-events/postmark", content=json.dumps(pm), headers=postmark_auth()
    )
    answers.append(response.status_code)
    sg = [sendgrid_event(two, "bounce", type="bounce", sg_event_id=f"sg-{bad}", reason=bad)]
    body = json.dumps(sg).encode()
    response = await hooks.client.post(
        "/api/mail-events/sendgrid", content=body, headers=sendgrid_headers(sendgrid_key, body)
    )
    answers.append(response.status_code)
    data = mailgun_event(three, id=f"mg-{bad}")
    data["delivery-status"]["message"] = f"5.1.1 {bad}"
    mg = {"signature": mailgun_signature(), "event-data": data}
    response = await hooks.client.post("/api/mail-events/mailgun", content=json.dumps(mg))
    answers.append(response.status_code)
    message = json.loads(ses_bounce(four))
    message["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = f"smtp; 550 {bad}"
    signed = sns_envelope(sns_key, json.dumps(message), MessageId=f"ses-{bad}")
    response = await hooks.client.post("/api/mail-events/ses", content=json.dumps(signed))
    answers.append(response.status_code)
    assert set(answers) <= status, answers
    for send, answer in zip((one, two, three, four), answers, strict=True):
        feedback = (await lead_state(mail_settings, send.lead_id)).feedback
        assert [f[0] for f in feedback] == ([EventType.BOUNCED] if answer == 200 else [])


@pytest.mark.parametrize(("bad", "_"), BAD)
async def test_nul_and_surrogates_in_signatures_are_refused(hooks, mail_settings, sns_key, bad, _):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    for signature in (
        {**mailgun_signature(), "token": f"tok-{bad}"},
        {**mailgun_signature(), "signature": bad},
        {**mailgun_signature(), "timestamp": bad},
    ):
        mg = {"signature": signature, "event-data": mailgun_event(send)}
        response = await hooks.client.post("/api/mail-events/mailgun", content=json.dumps(mg))
        assert response.status_code == 401, response.text
    for field in ("Signature", "Message", "MessageId"):
        signed = sns_envelope(sns_key, ses_bounce(send))
        signed[field] += bad  # after signing: it does not verify
        response = await hooks.client.post("/api/mail-events/ses", content=json.dumps(signed))
        assert response.status_code == 401, (field, response.text)
    assert await recorded(mail_settings) == (0, 0)


def test_keys_and_texts_are_made_storable():
    assert clean("a\x00b\ud800c\udfff") == "a\ufffdb\ufffdc\ufffd"
    assert clean("Grüße, 550 5.1.1 😀") == "Grüße, 550 5.1.1 😀"
    assert replay_key("evt\x00") == "evt\ufffd"
    long = replay_key("\ud800" * 300)  # hashed, which would raise on the surrogate
    assert long.startswith("sha256:") and long == replay_key("\ufffd" * 300)
