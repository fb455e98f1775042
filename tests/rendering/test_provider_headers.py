"""A real send carries what providers echo in their bounce and complaint webhooks, so each
names the send (nurture.mailevents): the Message-ID (SendGrid's smtp-id, Mailgun's
message-id), an SES message tag and Postmark metadata (both rewrite the Message-ID)."""

from __future__ import annotations

from nurture.rendering.compose import TOUCH_TAG
from tests.rendering.test_compose import LEAD, NOW, SEQUENCE, composer, parse


def test_a_send_carries_its_touch_id_for_ses_and_postmark():
    sent = composer().compose(SEQUENCE, 0, LEAD, "pub1", NOW, touch_id=4711)
    message = parse(sent.data)
    assert message["Message-ID"] == sent.message_id
    assert message["X-SES-MESSAGE-TAGS"] == f"{TOUCH_TAG}=4711"
    assert message[f"X-PM-Metadata-{TOUCH_TAG}"] == "4711"


def test_a_preview_names_no_send():
    message = parse(composer().compose(SEQUENCE, 0, LEAD, "pub1", NOW).data)
    assert message["X-SES-MESSAGE-TAGS"] is None
    assert not [k for k in message if k.lower().startswith("x-pm-")]
