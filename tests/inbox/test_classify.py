"""What a message is, from the messages mail systems and people really send."""

from __future__ import annotations

import re

import pytest

from nurture.inbox.classify import Kind, classify_bytes, html_text, snippet
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
    # a delay warning is no failure: MTAs send several before the final report
    delayed = classify_bytes(mail.dsn(OURS, "max@example.com", "4.4.7", action="delayed"))
    assert delayed.kind == Kind.NOTICE
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


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def test_nul_and_lone_surrogates_never_reach_a_column():
    # UTF-7 can encode a lone surrogate ("+2AA-" is U+D800), in a body and in an RFC 2047
    # word; NUL comes raw in the body, encoded in the subject and in the sender's name.
    raw = (
        b"From: =?utf-8?q?Max=00_Muster?= <max@example.com>\r\n"
        b"Subject: =?utf-8?q?Re:_Hallo=00?= =?utf-7?q?+2AA-x?=\r\n"
        b"Message-ID: <nul\x00@example.com>\r\n"
        b"In-Reply-To: " + OURS.encode() + b"\r\n"
        b"Content-Type: text/plain; charset=utf-7\r\n\r\n"
        b"Ja+2AA-, gerne\x00 morgen.\r\n"
    )
    found = classify_bytes(raw)
    assert found.kind == Kind.REPLY
    assert (found.subject, found.snippet, found.sender_name) == (
        "Re: Hallox",  # adjacent encoded words join (RFC 2047)
        "Ja, gerne morgen.",
        "Max Muster",
    )
    assert found.key == "nul@example.com"
    for value in (*found.__dict__.values(), *found.refs):
        assert not (isinstance(value, str) and UNSTORABLE.search(value)), value


def test_raw_8bit_headers_are_read_as_utf8_else_latin1():
    cases = [
        ("Frånvaro: Åsa är på semester", "utf-8"),
        ("Abwesenheitsnotiz: Jörg ist außer Haus", "utf-8"),
        ("Ich bin nicht im Büro: Rückkehr am 8.", "utf-8"),
        ("Frånvarande: Åsa är på semester", "latin-1"),
    ]
    for subject, charset in cases:
        raw = mail.reply("max@example.com", in_reply_to=OURS).replace(
            b"Subject: Re: Willkommen, Max", f"Subject: {subject}".encode(charset)
        )
        found = classify_bytes(raw)
        assert (found.subject, found.kind) == (subject, Kind.AUTO_REPLY)
    raw = mail.reply("max@example.com").replace(b"Max Muster", "Åsa Öberg".encode())
    assert classify_bytes(raw).sender_name == "Åsa Öberg"


def test_a_read_receipt_is_a_notice_not_a_reply():
    raw = (
        b"From: Max Muster <max@example.com>\r\n"
        b"Subject: Gelesen: Willkommen, Max\r\n"
        b"Message-ID: <mdn1@example.com>\r\n"
        b"In-Reply-To: " + OURS.encode() + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="M"\r\n'
        b"\r\n--M\r\nContent-Type: text/plain\r\n\r\nIhre Nachricht wurde gelesen.\r\n"
        b"--M\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; max@example.com\r\n"
        b"Original-Message-ID: " + OURS.encode() + b"\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
        b"--M--\r\n"
    )
    found = classify_bytes(raw)
    assert (found.kind, found.signal) == (Kind.NOTICE, "read receipt")


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # what made the old regexes quadratic (24 s for the first): unclosed scripts, tags
        # without an end, block tags without ">"
        ("Hallo" + "<script" * 20_000, "Hallo"),  # an unclosed script runs to the end
        ("<style" * 20_000, ""),
        ("<style>p{}</style>Hallo " * 20_000, "Hallo " * 20_000),
        ("<script>x</script>" * 20_000 + "Hallo", "Hallo"),
        ("<br" * 20_000 + "Hallo", "<br" * 20_000 + "Hallo"),  # no tag: kept as text
        ("<b>Hallo</b><br>" * 20_000, "Hallo\n" * 20_000),
        ("<" * 50_000 + ">Hallo", "<" * 49_999 + "Hallo"),
        ("<p>Ja<script>alert(1)</SCRIPT >, gerne</p><style>a{}", "Ja, gerne\n"),
    ],
)
def test_html_to_text_on_hostile_markup(markup, expected):
    # Linear by design (see classify._TAG): a tag cannot contain "<", script and style ends
    # are searched once from where the block starts; so these finish as fast as any mail.
    assert html_text(markup) == expected


def test_the_from_domain_is_authenticated_only_by_our_servers_verdict():
    def verdict(results: str | None) -> bool:
        extra = f"Authentication-Results: {results}" if results else ""
        return classify_bytes(mail.reply("max@example.com", headers=extra)).authenticated

    assert verdict("mx.planwerk.example; spf=pass; dkim=pass header.d=example.com; dmarc=pass")
    assert verdict("mx.planwerk.example; dmarc=pass (p=reject) header.from=example.com")
    assert verdict("mx.planwerk.example; dkim=pass (good) header.i=@mail.example.com")
    assert not verdict(None)
    assert not verdict("mx.planwerk.example; dmarc=fail header.from=example.com")
    assert not verdict("mx.planwerk.example; dkim=pass header.d=elsewhere.example")
    assert not verdict("mx.planwerk.example; dmarc=pass header.from=elsewhere.example")
    assert not verdict("mx.planwerk.example; spf=pass smtp.mailfrom=example.com")
