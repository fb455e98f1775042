"""Composing a touch: what templates see of a lead, the headers, and the one difference
between a preview and a real send (tracked links and the unsubscribe link naming the send)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage

from nurture.config.project import load_project
from nurture.links import Links
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context
from nurture.rendering.render import Renderer
from nurture.tokens import Tokens
from tests.conftest import CONTENT

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE = "https://n.example"
SEQUENCE = load_project(CONTENT / "config").sequences["b2b-nurture"]
WHITEPAPER = SEQUENCE.links["whitepaper"]  # linked from the first step, welcome


def composer() -> Composer:
    return Composer(Renderer(CONTENT / "templates"), Links(Tokens("k"), BASE))


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


LEAD = lead_context(
    {
        "email": "anna@firma.de",
        "first_name": "Anna",
        "last_name": "Berg",
        "company": "Berg & Söhne",
        "custom": {"company_size": "50-199"},
    }
)


def test_lead_context_has_the_profile_a_full_name_and_a_copy_of_custom_fields():
    custom = {"company_size": "50-199"}
    ctx = lead_context(
        {
            "email": "a@firma.de",
            "first_name": "Anna",
            "last_name": None,
            "custom": custom,
            "score": 42,
        }
    )
    assert (ctx["email"], ctx["first_name"], ctx["full_name"], ctx["score"]) == (
        "a@firma.de",
        "Anna",
        "Anna",
        42,
    )
    assert ctx["company"] is None and ctx["lifecycle_stage"] is None
    ctx["custom"]["company_size"] = "changed"
    assert custom == {"company_size": "50-199"}  # the template context is the lead's copy
    assert lead_context({"email": "x@firma.de"})["full_name"] is None
    assert lead_context({"email": "x@firma.de", "last_name": "Berg"})["full_name"] == "Berg"


def test_compose_sets_sender_recipient_subject_date_and_one_click_unsubscribe():
    message = parse(composer().compose(SEQUENCE, 0, LEAD, "pub1", NOW).data)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (SEQUENCE.sender.name, SEQUENCE.sender.email)
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Anna Berg", "anna@firma.de")
    assert message["Subject"] == "Willkommen, Anna"  # the subject is a template too
    assert message["Date"].datetime == NOW
    assert message["List-Unsubscribe"] == f"<{composer().links.unsubscribe_lead_url('pub1')}>"
    assert message["List-Unsubscribe"].startswith(f"<{BASE}/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    assert text.startswith("Hallo Anna,") and "Berg & Söhne" in text
    assert "Berg &amp; S" in html and "style=" in html  # escaped, CSS inlined


def test_a_reply_to_address_of_the_sender_becomes_the_header():
    sender = SEQUENCE.sender.model_copy(update={"reply_to": "antwort@planwerk.example"})
    sequence = SEQUENCE.model_copy(update={"sender": sender})
    message = parse(composer().compose(sequence, 0, LEAD, "pub1", NOW).data)
    assert message["Reply-To"].addresses[0].addr_spec == "antwort@planwerk.example"
    assert parse(composer().compose(SEQUENCE, 0, LEAD, "pub1", NOW).data)["Reply-To"] is None


def test_a_preview_links_directly_and_is_what_the_renderer_made():
    c = composer()
    rendered, unsubscribe = c.render(SEQUENCE, 0, LEAD, "pub1")
    text, html = parts(parse(c.compose(SEQUENCE, 0, LEAD, "pub1", NOW).data))
    assert WHITEPAPER in html and WHITEPAPER in text
    assert "/r/" not in html + text and "/o/" not in html  # no tracking without a send
    assert text.replace("\r\n", "\n") == rendered.text.replace("\r\n", "\n")
    assert unsubscribe in text


def test_a_real_send_tracks_its_links_and_its_unsubscribe_link_names_the_send():
    c = composer()
    sent = parse(c.compose(SEQUENCE, 0, LEAD, "pub1", NOW, touch_id=41).data)
    text, html = parts(sent)
    assert WHITEPAPER not in html and WHITEPAPER not in text
    assert re.search(rf'href="{BASE}/r/[^"]+"', html) and f"{BASE}/r/" in text
    assert len(re.findall(rf'src="{BASE}/o/[^"]+"', html)) == 1  # the open pixel
    # Two sends to the same lead have different unsubscribe links, and neither is the
    # lead's (previews use the lead's opaque id; a real link names the ledger row).
    other = parse(c.compose(SEQUENCE, 0, LEAD, "pub1", NOW, touch_id=42).data)
    links = {
        sent["List-Unsubscribe"],
        other["List-Unsubscribe"],
        f"<{c.links.unsubscribe_lead_url('pub1')}>",
    }
    assert len(links) == 3
    assert sent["List-Unsubscribe"].strip("<>") in text


def test_a_test_send_goes_to_another_address_with_the_leads_content():
    sample = lead_context(SAMPLE_LEADS["full"])
    message = parse(
        composer()
        .compose(SEQUENCE, 5, sample, "sample", NOW, to_addr="marketing@planwerk.example")
        .data
    )
    assert message["To"].addresses[0].addr_spec == "marketing@planwerk.example"
    assert message["Subject"] == "Max, eine Demo?"
    assert "Mustermann Consulting GmbH" in parts(message)[0]


def test_every_step_of_the_sequence_composes_for_both_sample_leads():
    c = composer()
    for sample in SAMPLE_LEADS.values():
        lead = lead_context(sample)
        subjects = [
            parse(c.compose(SEQUENCE, i, lead, "s", NOW).data)["Subject"]
            for i in range(len(SEQUENCE.steps))
        ]
        assert len(set(subjects)) == len(SEQUENCE.steps)
    sparse = parse(c.compose(SEQUENCE, 1, lead_context(SAMPLE_LEADS["sparse"]), "s", NOW).data)
    assert parts(sparse)[0].startswith("Hallo zusammen,")
    assert sparse["To"].addresses[0].display_name == ""
