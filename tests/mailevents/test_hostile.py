"""What a provider (or whoever holds its credential) may put into a payload never answers
500, on either database: touch ids that are no ASCII digits or too long for a bigint, times
out of range or far off, NUL bytes and lone surrogates in ids, addresses and details."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from nurture.leads.events import EventType
from nurture.mailevents import postmark, ses
from nurture.mailevents.common import touch_id
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    lead_state,
    postmark_auth,
    postmark_bounce,
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
