import email
import email.policy
import html
from datetime import UTC, datetime

import pytest

from nurture.mail.message import build_message, encode_header_text, format_address

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def build(**overrides):
    values = dict(
        from_name="Lena Vogt",
        from_addr="lena@planwerk.example",
        to_name="Max Mustermann",
        to_addr="max@example.com",
        subject="Hallo Max",
        html="<p>Hallo</p>",
        text="Hallo",
        date=NOW,
    )
    values.update(overrides)
    return build_message(**values)


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def test_message_has_required_headers_and_both_parts():
    msg = parse(build().data)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert msg[header], header
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Hallo"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hallo</p>"
    assert msg["Date"].datetime == NOW


def test_non_ascii_subject_and_names_round_trip():
    msg = parse(
        build(subject="Größere Übersicht für Müller – jetzt 🚀", to_name="Jürgen Weiß").data
    )
    assert msg["Subject"] == "Größere Übersicht für Müller – jetzt 🚀"
    assert msg["To"].addresses[0].display_name == "Jürgen Weiß"
    assert msg["To"].addresses[0].addr_spec == "max@example.com"


def test_long_subject_is_folded_into_short_lines():
    data = build(subject="ä" * 300).data
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert parse(data)["Subject"] == "ä" * 300


@pytest.mark.parametrize(
    "hostile",
    [
        "Max\r\nBcc: victim@example.com",
        "Max\nBcc: victim@example.com",
        "Max\rBcc: victim@example.com",
        "=?utf-8?q?Max=0D=0ABcc=3A_victim=40example=2Ecom?=",
        "=?utf-8?b?TWF4DQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ==?=",
        "Max\x00\x85\u2028Bcc: victim@example.com",
    ],
)
def test_no_header_injection_through_subject_or_name(hostile):
    msg = parse(build(subject=f"Hallo {hostile}", to_name=hostile).data)
    assert msg["Bcc"] is None
    assert all(
        k in {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}
        for k in msg
    )
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert len(msg["To"].addresses) == 1


def test_encoded_words_in_data_stay_literal_text():
    value = "=?utf-8?q?Hallo?="
    assert parse(build(subject=value).data)["Subject"] == value
    assert "=?utf-8?b?" in encode_header_text(value)


def test_display_name_with_specials_is_quoted():
    assert format_address('Vogt, Lena "LV"', "l@x.de") == '"Vogt, Lena \\"LV\\"" <l@x.de>'


def test_address_with_line_break_is_refused():
    with pytest.raises(ValueError):
        build(to_addr="max@example.com\r\nBcc: x@y.z")


def test_lines_of_the_body_are_short_and_crlf():
    data = build(html="<p>" + "x" * 2000 + "</p>", text="y" * 2000).data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def html_part(data: bytes):
    return parse(data).get_body(("html",))


def test_html_goes_as_7bit_with_character_references():
    part = html_part(build(html='<p style="color:red">Grüße, Jürgen – 🎉</p>').data)
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert (
        part.get_content()
        == '<p style="color:red">Grüße, Jürgen – 🎉</p>'.encode(
            "ascii", "xmlcharrefreplace"
        ).decode()
    )
    assert html.unescape(part.get_content()) == '<p style="color:red">Grüße, Jürgen – 🎉</p>'


@pytest.mark.parametrize(
    "body",
    [
        "<style>p::before { content: 'ü' }</style><p>x</p>",  # references are not decoded there
        "<p>" + "x" * 1000 + "</p>",  # a line over 998 bytes
        "<p>nul \x00 byte</p>",
    ],
)
def test_html_that_7bit_cannot_carry_goes_quoted_printable(body):
    data = build(html=body).data
    part = html_part(data)
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert part.get_content() == body
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
