"""Amazon SES through SNS: signatures checked against the certificate at SigningCertURL (an
SNS host, fetched through the injected fetcher and kept), subscriptions confirmed, bounces
and complaints applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.feedback.service import FeedbackKind
from nurture.leads.events import EventType
from nurture.leads.models import SuppressionReason
from nurture.ledger.models import EnrollmentState
from nurture.mail.transports import MemoryTransport
from nurture.mailevents import ses
from nurture.mailevents.common import Refused, Unreadable
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    CERT_URL,
    SUBSCRIBE_URL,
    TOPIC,
    lead_state,
    recorded,
    ses_bounce,
    ses_complaint,
    sns_envelope,
)

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SEND = SimpleNamespace(id=17, email="anna@firma.de", message_id="<abc.1.def@planwerk.example>")
PATH = "/api/mail-events/ses"


def envelope(message: str) -> ses.Envelope:
    return ses.Envelope.model_validate(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": message,
            "Timestamp": "2026-11-23T10:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "x",
            "SigningCertURL": CERT_URL,
        }
    )


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [
        ("Permanent", FeedbackKind.HARD_BOUNCE),
        ("Transient", FeedbackKind.SOFT_BOUNCE),
        ("Undetermined", FeedbackKind.SOFT_BOUNCE),
    ],
)
def test_bounce_types(bounce_type, kind):
    notice = ses.read_message(envelope(ses_bounce(SEND, bounce_type)), NOW)
    [item] = notice.items
    assert notice.key == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert (item.kind, item.email, item.message_id, item.touch_id) == (
        kind,
        SEND.email,
        SEND.message_id,
        17,
    )
    assert "5.1.1" in item.detail and item.source == "ses"


def test_the_touch_from_event_publishing_tags_or_only_the_address():
    [tagged] = ses.read_message(envelope(ses_bounce(SEND, via="tags")), NOW).items
    assert tagged.touch_id == 17 and tagged.message_id is None
    [bare] = ses.read_message(envelope(ses_bounce(SEND, via="none")), NOW).items
    assert (bare.touch_id, bare.message_id, bare.email) == (None, None, SEND.email)


def test_complaints_and_what_is_not_feedback():
    [item] = ses.read_message(envelope(ses_complaint(SEND)), NOW).items
    assert item.kind == FeedbackKind.COMPLAINT and item.detail == "abuse"
    assert (
        ses.read_message(envelope(ses_complaint(SEND, feedback_type="not-spam")), NOW).items == []
    )
    delivery = {"notificationType": "Delivery", "mail": {}, "delivery": {"recipients": ["a@b.de"]}}
    assert ses.read_message(envelope(json.dumps(delivery)), NOW).items == []
    opened = {"eventType": "Open", "mail": {}, "open": {"ipAddress": "192.0.2.1"}}
    assert ses.read_message(envelope(json.dumps(opened)), NOW).items == []


@pytest.mark.parametrize(
    ("message", "loc"),
    [
        ("not json", ["body", "Message"]),
        (json.dumps({"notificationType": "Bounce", "mail": {}}), ["body", "Message"]),
        (
            json.dumps({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent"}}),
            ["body", "Message", "bounce", "bouncedRecipients"],
        ),
        (json.dumps({"mail": {}}), ["body", "Message"]),
    ],
)
def test_an_unreadable_message_says_where(message, loc):
    with pytest.raises(Unreadable) as caught:
        ses.read_message(envelope(message), NOW)
    assert caught.value.errors[0]["loc"] == loc and caught.value.errors[0]["msg"]


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-central-1.amazonaws.com/cert.pem",
        "https://sns.eu-central-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-central-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://attacker@sns.eu-central-1.amazonaws.com/cert.pem",
        "https://sns.eu-central-1.amazonaws.com:8443/cert.pem",
        "https://sns.eu-central-1.amazonaws.com/cert.txt",
        "https://sns..amazonaws.com/cert.pem",
        # The S3 bucket named "sns", on S3's global and legacy regional hosts: anyone's.
        "https://sns.s3.amazonaws.com/x.pem",
        "https://sns.s3-us-west-2.amazonaws.com/x.pem",
        "https://sns.s3.us-west-2.amazonaws.com/x.pem",
        "https://sns.s3-website-us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.cn.evil.example/x.pem",
        "https://sns.us-east-1.amazonaws.org/x.pem",
    ],
)
def test_only_sns_hosts_sign(url):
    with pytest.raises(Refused):
        ses.sns_url(url, ["body", "SigningCertURL"], pem=True)
    if url.endswith("/x.pem"):  # a host that is not SNS: no subscription confirmed there
        with pytest.raises(Refused):
            ses.sns_url(url.replace("/x.pem", "/?Action=ConfirmSubscription"), [])


@pytest.mark.parametrize(
    "host",
    [
        "sns.eu-central-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com",
        "sns.ap-southeast-2.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.us-iso-east-1.amazonaws.com",
    ],
)
def test_sns_hosts_are_accepted(host):
    url = f"https://{host}/SimpleNotificationService-0123.pem"
    assert ses.sns_url(url, [], pem=True) == url
    confirm = f"https://{host}/?Action=ConfirmSubscription&Token=t"
    assert ses.sns_url(confirm, []) == confirm


# Over HTTP, on both databases.


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_hard_bounce_suppresses_and_ends_the_drip(
    hooks, mail_settings, sns_key, version
):
    first, other = await sent_touches(mail_settings, 2, MONDAY)
    body = sns_envelope(sns_key, ses_bounce(first), version=version)
    response = await hooks.client.post(PATH, content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "notifications": 1,
        "new": 1,
        "recorded": 1,
        "unmatched": 0,
        "suppressed": 1,
        "exited": 1,
    }
    state = await lead_state(mail_settings, first.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.enrollments == [EnrollmentState.EXITED]
    assert state.feedback == [(EventType.BOUNCED, first.id, "ses")]
    assert (await lead_state(mail_settings, other.lead_id)).suppression_reason is None
    # A second notification: the certificate is kept, not fetched again.
    body = sns_envelope(sns_key, ses_bounce(other, "Transient", via="tags"), version=version)
    assert (await hooks.client.post(PATH, content=json.dumps(body))).status_code == 200
    assert hooks.fetcher.fetched == [CERT_URL]
    assert (await lead_state(mail_settings, other.lead_id)).feedback == [
        (EventType.SOFT_BOUNCED, other.id, "ses")
    ]


async def test_a_replayed_notification_records_nothing_new(hooks, mail_settings, sns_key):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    subject = "Amazon SES Email Event Notification"  # signed too, when present
    body = json.dumps(sns_envelope(sns_key, ses_bounce(send, "Transient"), Subject=subject))
    assert (await hooks.client.post(PATH, content=body)).json()["new"] == 1
    again = await hooks.client.post(PATH, content=body)
    assert again.status_code == 200 and again.json()["new"] == 0
    assert again.json()["recorded"] == 0
    assert len((await lead_state(mail_settings, send.lead_id)).feedback) == 1


async def test_a_complaint_is_never_mailed_again(hooks, mail_settings, sns_key):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = sns_envelope(sns_key, ses_complaint(send))
    assert (await hooks.client.post(PATH, content=json.dumps(body))).status_code == 200
    state = await lead_state(mail_settings, send.lead_id)
    assert state.suppression_reason == SuppressionReason.COMPLAINED
    assert state.feedback == [(EventType.COMPLAINED, send.id, "ses")]
    outbox = MemoryTransport.outboxes[mail_settings.mail_url.get_secret_value()[9:]]
    mailed = len(outbox)
    later = await run_pass(build_dispatcher(mail_settings), MONDAY + timedelta(days=60))
    assert later.total("sent") == 0 and len(outbox) == mailed


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b.update(Message=b["Message"].replace("Permanent", "Transient")),
        lambda b: b.update(Signature="AAAA" + b["Signature"][4:]),
        lambda b: b.update(Signature="not base64!"),
        lambda b: b.update(SignatureVersion="2"),  # signed with SHA1, claimed SHA256
        lambda b: b.update(Timestamp="2026-01-01T00:00:00.000Z"),
    ],
)
async def test_a_bad_signature_is_refused_and_records_nothing(
    hooks, mail_settings, sns_key, tamper
):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = sns_envelope(sns_key, ses_bounce(send))
    tamper(body)
    response = await hooks.client.post(PATH, content=json.dumps(body))
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert await recorded(mail_settings) == (0, 0)
    assert (await lead_state(mail_settings, send.lead_id)).suppression_reason is None


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://certs.evil.example/SimpleNotificationService.pem",
        "http://sns.eu-central-1.amazonaws.com/SimpleNotificationService.pem",
    ],
)
async def test_a_certificate_elsewhere_is_refused_unfetched(
    hooks, mail_settings, sns_key, cert_url
):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    hooks.fetcher.responses[cert_url] = sns_key.pem  # even if it would verify
    body = sns_envelope(sns_key, ses_bounce(send), cert_url=cert_url)
    response = await hooks.client.post(PATH, content=json.dumps(body))
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["body", "SigningCertURL"]
    assert hooks.fetcher.fetched == [] and await recorded(mail_settings) == (0, 0)


async def test_another_topic_is_refused(hooks, mail_settings, sns_key):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    other = TOPIC.replace("nurture-ses", "someone-else")
    body = sns_envelope(sns_key, ses_bounce(send), topic=other)
    response = await hooks.client.post(PATH, content=json.dumps(body))
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["body", "TopicArn"]
    assert await recorded(mail_settings) == (0, 0)


async def test_a_subscription_is_confirmed_through_the_fetcher(hooks, mail_settings, sns_key):
    body = sns_envelope(
        sns_key,
        f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscriptionConfirmation",
        SubscribeURL=SUBSCRIBE_URL,
        Token="2336412f37fb687f5d51e6e2425dacbba",
    )
    response = await hooks.client.post(
        PATH,
        content=json.dumps(body),
        headers={
            "x-amz-sns-message-type": "SubscriptionConfirmation",
            "content-type": "text/plain",
        },
    )
    assert response.status_code == 200
    assert hooks.fetcher.fetched == [CERT_URL, SUBSCRIBE_URL]
    assert await recorded(mail_settings) == (0, 0)


async def test_a_subscription_is_not_confirmed_unsigned_or_elsewhere(hooks, sns_key):
    evil = "https://evil.example/?Action=ConfirmSubscription"
    elsewhere = sns_envelope(
        sns_key, "subscribe", "SubscriptionConfirmation", SubscribeURL=evil, Token="t"
    )
    response = await hooks.client.post(PATH, content=json.dumps(elsewhere))
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["body", "SubscribeURL"]
    forged = sns_envelope(
        sns_key, "subscribe", "SubscriptionConfirmation", SubscribeURL=SUBSCRIBE_URL, Token="t"
    )
    forged["Token"] = "another"
    assert (await hooks.client.post(PATH, content=json.dumps(forged))).status_code == 401
    assert SUBSCRIBE_URL not in hooks.fetcher.fetched and evil not in hooks.fetcher.fetched


async def test_without_a_signature_401_before_anything_is_read(hooks, mail_settings, sns_key):
    # The signature is read first: garbage, or a message without one, is not authentic
    # (401), whatever else is wrong with it; the certificate is never fetched.
    garbage = await hooks.client.post(PATH, content=b"\x00garbage")
    assert garbage.status_code == 401 and "not JSON" in garbage.json()["detail"][0]["msg"]
    missing = await hooks.client.post(PATH, json={"Type": "Notification", "Message": "{}"})
    assert missing.status_code == 401
    fields = {tuple(e["loc"]) for e in missing.json()["detail"]}
    assert fields == {
        ("body", "TopicArn"),
        ("body", "SignatureVersion"),
        ("body", "Signature"),
        ("body", "SigningCertURL"),
    }
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    unsigned = sns_envelope(sns_key, ses_bounce(send))
    del unsigned["Signature"]
    response = await hooks.client.post(PATH, content=json.dumps(unsigned))
    assert response.status_code == 401
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "Signature"], "Field required")
    for body in ([], "text", {**unsigned, "Type": "Spam", "Signature": "x"}):
        assert (await hooks.client.post(PATH, json=body)).status_code == 401
    assert hooks.fetcher.fetched == [] and await recorded(mail_settings) == (0, 0)


async def test_signed_but_unreadable_answers_422_with_the_reason(hooks, mail_settings, sns_key):
    signed = sns_envelope(sns_key, "this is no SES notification")
    unreadable = await hooks.client.post(PATH, content=json.dumps(signed))
    assert unreadable.status_code == 422
    assert unreadable.json()["detail"][0]["loc"] == ["body", "Message"]
    # Signed as its text ("Subject\n42\n"), so the signature checks out; but not a string.
    odd = sns_envelope(sns_key, ses_bounce(SEND), Subject=42)
    response = await hooks.client.post(PATH, content=json.dumps(odd))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "Subject"]
    assert await recorded(mail_settings) == (0, 0)


async def test_an_unreachable_certificate_answers_503_so_sns_retries(hooks, mail_settings, sns_key):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    del hooks.fetcher.responses[CERT_URL]
    body = sns_envelope(sns_key, ses_bounce(send))
    assert (await hooks.client.post(PATH, content=json.dumps(body))).status_code == 503
    assert await recorded(mail_settings) == (0, 0)


async def test_without_topics_the_endpoint_is_off(app_client):
    response = await app_client.post(PATH, json={})
    assert response.status_code == 404
    assert "NURTURE_SES_TOPIC_ARNS" in response.json()["detail"][0]["msg"]
    unknown = await app_client.post("/api/mail-events/nope", json={})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["msg"] == "no such provider"
