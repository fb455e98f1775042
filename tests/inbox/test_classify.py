"""What a message is, from the messages mail systems and people really send."""

from __future__ import annotations

import pytest

from nurture.inbox.classify import Kind, classify_bytes, snippet
from tests.inbox import mail

OURS = "<18c2f.1.ab12@planwerk.example>"


def test_a_reply_names_our_send_first_by_in_reply_to_then_references_newest_first():
    raw = mail.reply(
        "max@example.com",
        in_reply_to="<b@mail.example.net>",
        references=f"{OURS} <a@mail.example.net> <b@mail.example.net>",
    )
    found = classify_bytes(raw)
    assert found.kind == Kind.REPLY
    assert found.refs == ["b@mail.example.net", "a@mail.example.net", OURS.strip("<>")]
    assert found.sender == "max@example.com"


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        ("Auto-Submitted: auto-replied", "Re: Willkommen"),
        ("Auto-Submitted: auto-generated; owner-email=x@example.com", "Ticket #123"),
        ("X-Autoreply: yes", "Re: Willkommen"),
        ("X-Autorespond: Out of office", "Re: Willkommen"),
        ("Precedence: auto_reply", "Re: Willkommen"),
        ("Precedence: bulk", "Re: Willkommen"),
        ("Precedence: junk", "Re: Willkommen"),
        ("", "Abwesenheitsnotiz: Willkommen, Max"),
        ("", "Automatische Antwort: Willkommen, Max"),
        ("", "AW: Abwesenheitsnotiz: Willkommen"),
        ("", "Out of Office: Willkommen, Max"),
        ("", "Out of the office until Monday"),
        ("", "Automatic reply: Willkommen, Max"),
        ("", "Auto-Reply: Willkommen"),
        ("", "Frånvaro: Willkommen, Max"),
        ("", "Autosvar: Willkommen, Max"),
        ("", "Automatiskt svar: Willkommen, Max"),
    ],
)
def test_automatic_answers(header, subject):
    found = classify_bytes(mail.auto_reply("max@example.com", OURS, header, subject))
    assert found.kind == Kind.AUTO_REPLY
    assert found.signal


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        ("Auto-Submitted: no", "Re: Willkommen"),
        ("Precedence: list", "Re: Willkommen"),
        ("", "Re: Ihre Frage zum Out-of-Office-Modus"),
        ("", "Re: Abwesenheit nächste Woche"),
        ("", "Re: Willkommen"),
    ],
)
def test_a_person_is_not_an_automatic_answer(header, subject):
    found = classify_bytes(mail.auto_reply("max@example.com", OURS, header, subject))
    assert found.kind == Kind.REPLY


def test_a_dsn_failed_with_5xx_is_a_hard_bounce_with_the_original_message_id():
    found = classify_bytes(mail.dsn(OURS, "max@example.com", "5.1.1"))
    assert (found.kind, found.recipient) == (Kind.HARD_BOUNCE, "max@example.com")
    assert found.refs == [OURS.strip("<>")]
    assert found.detail.startswith("5.1.1") and "User unknown" in found.detail


def test_a_dsn_with_4xx_is_soft_and_a_delivered_report_is_no_failure():
    assert classify_bytes(mail.dsn(OURS, "max@example.com", "4.2.2")).kind == Kind.SOFT_BOUNCE
    delayed = classify_bytes(mail.dsn(OURS, "max@example.com", "4.4.7", action="delayed"))
    assert delayed.kind == Kind.SOFT_BOUNCE
    delivered = classify_bytes(mail.dsn(OURS, "max@example.com", "2.0.0", action="delivered"))
    assert delivered.kind == Kind.NOTICE


def test_a_dsn_with_the_whole_original_attached_as_message_rfc822():
    raw = mail.dsn(OURS, "max@example.com").replace(
        b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822"
    )
    assert classify_bytes(raw).refs == [OURS.strip("<>")]


def test_a_qmail_bounce_is_found_by_flufl_bounce():
    found = classify_bytes(mail.qmail_bounce(OURS, "max@example.com"))
    assert (found.kind, found.recipient, found.refs) == (
        Kind.HARD_BOUNCE,
        "max@example.com",
        [OURS.strip("<>")],
    )


def test_a_person_who_writes_like_a_mail_system_is_still_a_person():
    body = "Hi. This is the qmail-send program at my laptop.\n\n<max@example.com>:\nno mailbox\n"
    found = classify_bytes(mail.reply("max@example.com", in_reply_to=OURS, body=body))
    assert found.kind == Kind.REPLY


def test_an_arf_report_is_a_complaint_about_our_send():
    found = classify_bytes(mail.arf(OURS, "max@example.com"))
    assert (found.kind, found.recipient, found.refs) == (
        Kind.COMPLAINT,
        "max@example.com",
        [OURS.strip("<>")],
    )
    assert found.detail == "feedback-type abuse"


def test_an_arf_report_with_the_recipient_redacted_names_the_original_to():
    raw = mail.arf(OURS, "max@example.com").replace(b"Original-Rcpt-To: <max@example.com>\r\n", b"")
    assert classify_bytes(raw).recipient == "max@example.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Ja, gerne!\n\nOn Mon, 23 Nov 2026 at 09:00, Lena Vogt <l@p.example> wrote:\n> Hallo",
            "Ja, gerne!",
        ),
        (
            "Please call me.\n\n-----Original Message-----\nFrom: Lena\nSent: Monday",
            "Please call me.",
        ),
        (
            "Bitte ein Angebot.\n\nVon: Lena Vogt <l@p.example>\nGesendet: Montag",
            "Bitte ein Angebot.",
        ),
        ("Tack, ring mig.\n\nMed vänliga hälsningar\nSven", "Tack, ring mig."),
        ("Sounds good\n\nSent from my iPhone", "Sounds good"),
        ("Passt.\n-- \nMax Muster\nMuster AG", "Passt."),
        ("Thanks,\nMax", "Thanks, Max"),  # a sign-off with nothing before it is the text
        ("> quoted only\nmy answer\n> more quote", "my answer"),
    ],
)
def test_the_snippet_is_what_the_person_wrote(text, expected):
    assert snippet(text) == expected


def test_the_snippet_is_short():
    cut = snippet("wort " * 500)
    assert len(cut) <= 300 and cut.endswith("…")


def test_html_only_replies_and_encoded_subjects():
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n"
        b"Subject: =?utf-8?b?QVc6IFdpbGxrb21tZW4=?=\r\n"
        b"Message-ID: <h1@example.com>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<div>Gerne <b>morgen</b>&nbsp;um 10.</div><br><div>Am Montag schrieb Lena:</div>"
    )
    found = classify_bytes(raw)
    assert (found.kind, found.subject, found.snippet) == (
        Kind.REPLY,
        "AW: Willkommen",
        "Gerne morgen um 10.",
    )
    assert found.key == "h1@example.com"


def test_a_message_without_message_id_is_keyed_by_its_bytes():
    raw = mail.reply("max@example.com").replace(b"Message-ID:", b"X-Old-Id:")
    assert classify_bytes(raw).key.startswith("sha256:")
    assert classify_bytes(raw).key == classify_bytes(raw).key
