"""Incoming messages shaped like the real ones: a Thunderbird/Outlook reply, Exchange and
Gmail out-of-office answers, a Postfix DSN, a qmail bounce, a Yahoo-style ARF report."""

from __future__ import annotations

from email.header import Header
from email.utils import formatdate
from itertools import count

_n = count(1)


def _id(domain: str = "mail.example.net") -> str:
    return f"<{next(_n)}.reply@{domain}>"


def reply(
    sender: str,
    in_reply_to: str | None = None,
    references: str | None = None,
    subject: str = "Re: Willkommen, Max",
    body: str = "Hallo Frau Vogt,\n\nbitte rufen Sie mich morgen an, wir brauchen das.\n",
    message_id: str | None = None,
    headers: str = "",
) -> bytes:
    """A person's reply: new text, a sign-off, a signature, the quoted original."""
    lines = [
        "Return-Path: <" + sender + ">",
        f"From: Max Muster <{sender}>",
        "To: Lena Vogt <lena.vogt@planwerk.example>",
        f"Subject: {subject}",
        f"Date: {formatdate()}",
        f"Message-ID: {message_id or _id()}",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines += [
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        'Content-Type: text/plain; charset="utf-8"; format=flowed',
        "Content-Transfer-Encoding: 8bit",
    ]
    if headers:
        lines.append(headers.strip())
    text = (
        body
        + "\nMit freundlichen Grüßen\nMax Muster\n-- \nMuster AG | Tel. +49 30 1234567\n\n"
        + "Am 01.12.2026 um 09:00 schrieb Lena Vogt:\n"
        + "> Willkommen, Max!\n> Hier ist der Leitfaden.\n"
    )
    return ("\r\n".join(lines) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode()


def auto_reply(sender: str, in_reply_to: str | None, header: str, subject: str) -> bytes:
    lines = [
        f"From: Max Muster <{sender}>",
        "To: lena.vogt@planwerk.example",
        f"Subject: {Header(subject, 'utf-8').encode() if not subject.isascii() else subject}",
        f"Date: {formatdate()}",
        f"Message-ID: {_id()}",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if header:
        lines.append(header)
    lines += ["Content-Type: text/plain; charset=utf-8", ""]
    body = "Ich bin bis zum 8. Dezember nicht im Büro und habe keinen Zugriff auf E-Mails."
    return ("\r\n".join(lines) + "\r\n" + body + "\r\n").encode()


def dsn(original_id: str, recipient: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    """Postfix's RFC 3464 report, with the original's headers attached."""
    diagnostic = (
        f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
        if status.startswith("5")
        else "smtp; 452 4.2.2 Mailbox full"
    )
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.planwerk.example (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "To: bounces@planwerk.example\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"Message-ID: {_id('mx.planwerk.example')}\r\n"
        f"Date: {formatdate()}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="B1"\r\n'
        "\r\n"
        "--B1\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.planwerk.example.\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.planwerk.example\r\n"
        "X-Postfix-Queue-ID: 4ABC123\r\n"
        "Arrival-Date: Tue,  1 Dec 2026 09:00:00 +0100 (CET)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.example.com\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: Lena Vogt <lena.vogt@planwerk.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Willkommen, Max\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "--B1--\r\n"
    ).encode()


def qmail_bounce(original_id: str, recipient: str) -> bytes:
    """qmail's QSBMF: no report structure, the original quoted in the text."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mail.example.com\r\n"
        "To: lena.vogt@planwerk.example\r\n"
        "Subject: failure notice\r\n"
        f"Date: {formatdate()}\r\n"
        f"Message-ID: {_id('mail.example.com')}\r\n"
        "\r\n"
        "Hi. This is the qmail-send program at mail.example.com.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n"
        "\r\n"
        f"<{recipient}>:\r\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\r\n"
        "\r\n"
        "--- Below this line is a copy of the message.\r\n"
        "\r\n"
        "Return-Path: <lena.vogt@planwerk.example>\r\n"
        "From: Lena Vogt <lena.vogt@planwerk.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Willkommen, Max\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "Willkommen!\r\n"
    ).encode()


def arf(original_id: str, recipient: str) -> bytes:
    """An RFC 5965 abuse report as mailbox providers' feedback loops send it."""
    return (
        "From: staff@hotmail.example\r\n"
        "To: fbl@planwerk.example\r\n"
        "Subject: complaint about message from 192.0.2.1\r\n"
        f"Date: {formatdate()}\r\n"
        f"Message-ID: {_id('fbl.hotmail.example')}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="part1"\r\n'
        "\r\n"
        "--part1\r\n"
        'Content-Type: text/plain; charset="US-ASCII"\r\n'
        "\r\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1.\r\n"
        "\r\n"
        "--part1\r\n"
        "Content-Type: message/feedback-report\r\n"
        "\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: SomeGenerator/1.0\r\n"
        "Version: 1\r\n"
        "Original-Mail-From: <bounces@planwerk.example>\r\n"
        f"Original-Rcpt-To: <{recipient}>\r\n"
        "Source-IP: 192.0.2.1\r\n"
        "\r\n"
        "--part1\r\n"
        "Content-Type: message/rfc822\r\n"
        "Content-Disposition: inline\r\n"
        "\r\n"
        "From: Lena Vogt <lena.vogt@planwerk.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Willkommen, Max\r\n"
        f"Message-ID: {original_id}\r\n"
        "\r\n"
        "Willkommen!\r\n"
        "--part1--\r\n"
    ).encode()
