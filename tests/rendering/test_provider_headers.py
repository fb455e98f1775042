"""A real send carries what providers echo in their bounce and complaint webhooks, so each
names the send (nurture.mailevents): the Message-ID (SendGrid's smtp-id, Mailgun's
message-id), and an SES message tag or Postmark metadata (both rewrite the Message-ID), but
only for the provider whose webhook is on: over any other server, those headers would reach
the recipient with our sequential touch ids."""

from __future__ import annotations

from dataclasses import replace

from pydantic import SecretStr

from nurture.rendering.compose import TOUCH_TAG, build_composer
from tests.rendering.test_compose import LEAD, NOW, SEQUENCE, composer, parse

SES = "X-SES-MESSAGE-TAGS"
POSTMARK = f"X-PM-Metadata-{TOUCH_TAG}"


def headers(comp) -> dict[str, str]:
    sent = comp.compose(SEQUENCE, 0, LEAD, "pub1", NOW, touch_id=4711)
    message = parse(sent.data)
    assert message["Message-ID"] == sent.message_id
    return {k: v for k, v in message.items() if k in (SES, POSTMARK)}


def test_plain_smtp_carries_no_touch_id_in_a_header():
    assert headers(composer()) == {}


def test_a_send_carries_its_touch_id_for_the_provider_in_use():
    assert headers(replace(composer(), ses_tags=True)) == {SES: f"{TOUCH_TAG}=4711"}
    assert headers(replace(composer(), postmark_metadata=True)) == {POSTMARK: "4711"}


def test_the_webhook_settings_say_which_provider(settings):
    assert headers(build_composer(settings)) == {}
    ses = settings.model_copy(update={"ses_topic_arns": ["arn:aws:sns:eu-central-1:1:n"]})
    assert headers(build_composer(ses)) == {SES: f"{TOUCH_TAG}=4711"}
    postmark = settings.model_copy(
        update={"postmark_webhook_user": "pm", "postmark_webhook_password": SecretStr("pw")}
    )
    assert headers(build_composer(postmark)) == {POSTMARK: "4711"}
    user_only = settings.model_copy(update={"postmark_webhook_user": "pm"})
    assert headers(build_composer(user_only)) == {}


def test_a_preview_names_no_send():
    both = replace(composer(), ses_tags=True, postmark_metadata=True)
    message = parse(both.compose(SEQUENCE, 0, LEAD, "pub1", NOW).data)
    assert message[SES] is None
    assert not [k for k in message if k.lower().startswith("x-pm-")]
