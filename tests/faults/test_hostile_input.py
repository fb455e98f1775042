"""Property tests: no lead field value breaks header integrity, escapes the sandbox or crashes
rendering: CR/LF, NUL, 10 kB, RTL and emoji, Jinja syntax, HTML, RFC 2047 encoded words."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from nurture.config.project import load_project
from nurture.config.sequences import SequenceConfig
from nurture.links import Links
from nurture.mail.message import clean_header_text
from nurture.rendering.compose import Composer, lead_context
from nurture.rendering.render import Renderer
from nurture.tokens import Tokens
from tests.conftest import CONTENT

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SEQUENCE = load_project(CONTENT / "config").sequences["b2b-nurture"]
COMPOSER = Composer(Renderer(CONTENT / "templates"), Links(Tokens("k"), "https://n.example"))
# A template (templates/email/probe.*) that prints the fields bare, so the properties can be exact.
PROBE = SequenceConfig.model_validate(
    {
        "id": "probe",
        "name": "probe",
        "sender": {"name": "S", "email": "s@example.com", "company": "C", "address": "A"},
        "steps": [
            {"id": "p", "template": "probe", "subject": "{{ lead.first_name }}|{{ lead.company }}"}
        ],
    }
)
HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
}

HOSTILE = st.sampled_from(
    [
        "Max\r\nBcc: victim@example.com",
        "\x00",
        "{{ 7*7 }}",
        "{% raw %}",
        "{{ ''.__class__ }}",
        "<script>alert(1)</script>",
        "=?utf-8?q?a=0D=0ABcc=3A_x=40y=2Ez?=",
        "\u202eRTL\u202c 🎉",
        "\u2028\u2029\x85",
        "x" * 10_000,
        "\"'<>&",
        "=?utf-8?b?DQpCY2M6IHhAeS56?=",
    ]
)
VALUES = st.one_of(HOSTILE, st.text(min_size=1, max_size=300))


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def body_form(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


def assert_headers_intact(parsed: email.message.EmailMessage) -> None:
    assert set(parsed.keys()) <= HEADERS
    [to] = parsed["To"].addresses
    assert to.addr_spec == "lead@example.com"
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=VALUES, company=VALUES, note=VALUES)
def test_values_arrive_as_data_and_headers_stay_intact(first, company, note):
    lead = lead_context(
        {
            "email": "lead@example.com",
            "first_name": first,
            "company": company,
            "custom": {"note": note},
        }
    )
    parsed = parse(COMPOSER.compose(PROBE, 0, lead, "p", NOW).data)
    assert_headers_intact(parsed)
    assert parsed["Subject"] == clean_header_text(f"{first}|{company}")
    text = body_form(parsed.get_body(("plain",)).get_content())
    html_part = parsed.get_body(("html",))
    html = body_form(html_part.get_content())
    for value in (first, company, note):
        assert f"[{body_form(value)}]" in text  # printed as written: never evaluated
        escaped = body_form(str(escape(value)))  # and escaped in HTML
        if html_part["Content-Transfer-Encoding"] == "7bit":  # non-ASCII as &#...; references
            escaped = escaped.encode("ascii", "xmlcharrefreplace").decode()
        assert f"[{escaped}]" in html


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.one_of(st.none(), VALUES),
    last=st.one_of(st.none(), VALUES),
    company=st.one_of(st.none(), VALUES),
    step=st.integers(0, 19),
)
def test_every_email_of_the_sequence_renders_any_lead_safely(first, last, company, step):
    lead = lead_context(
        {
            "email": "lead@example.com",
            "first_name": first,
            "last_name": last,
            "company": company,
            "custom": {"company_size": company},
        }
    )
    index = step % len(SEQUENCE.steps)
    parsed = parse(COMPOSER.compose(SEQUENCE, index, lead, "p", NOW).data)
    assert_headers_intact(parsed)
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html
