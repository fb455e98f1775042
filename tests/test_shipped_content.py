"""The shipped example (config/ and templates/ at the repository root), what a new project
starts from, checked as `nurture config check` does: it loads, every email renders with the
sample leads, and its pages and links work; and the lifecycle the README describes is there
(an onboarding on stage customer above the nurture, a re-engagement that ends in a sunset),
with score and referral links that work. The rest of the suite runs on its own project
(tests/fixtures/project), so a marketer's edit of the example breaks this module only, and
only when the edit is wrong. Nothing here counts rules or steps or reads a subject's words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import httpx
import pytest

from nurture.app import create_app
from nurture.config.project import load_project
from nurture.config.sequences import SequenceConfig
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.check import check_handoff_email
from nurture.ledger.claims import next_due
from nurture.links import Links
from nurture.mail.transports import MemoryTransport
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context
from nurture.rendering.render import Renderer
from nurture.tokens import Tokens
from tests.conftest import SHIPPED

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE = "http://nurture.test"
HOSTILE = {
    "email": "lead@example.com",
    "first_name": "<script>alert(1)</script>",
    "last_name": "{{ 7*7 }}",
    "company": "Tom & Jerry <b>",
    "custom": {},
}


def shipped_composer() -> Composer:
    return Composer(Renderer(SHIPPED / "templates"), Links(Tokens("k"), BASE))


def test_the_shipped_config_loads_and_every_email_renders_with_the_sample_leads():
    project = load_project(SHIPPED / "config")  # a ConfigError lists each problem with its line
    assert project.forms and project.sequences
    composer = shipped_composer()
    problems = check_sequences(project, composer) + check_handoff_email(project, composer)
    assert not problems, "\n".join(str(p) for p in problems)


def test_every_shipped_email_links_to_unsubscribe_and_keeps_lead_data_as_data():
    project = load_project(SHIPPED / "config")
    composer = shipped_composer()
    lead = lead_context(HOSTILE)
    for sequence in project.sequences.values():
        for index, step in enumerate(sequence.steps):
            where = f"{sequence.id}/{step.id}"
            message = message_from_bytes(
                composer.compose(sequence, index, lead, "p", NOW, touch_id=index + 1).data,
                policy=default,
            )
            assert [a.addr_spec for a in message["To"].addresses] == ["lead@example.com"], where
            unsubscribe = message["List-Unsubscribe"].strip("<>")
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            assert unsubscribe in text and unsubscribe in html, f"{where}: no unsubscribe link"
            for value in (HOSTILE["first_name"], HOSTILE["company"]):
                assert value not in html, f"{where}: lead data printed as HTML"


SENT = 42  # a real send: its links name the send and its clicks are tracked
SCORE_LINK = re.compile(rf"{re.escape(BASE)}/n/([^\s\"<>]+)")
REFERRAL_LINK = re.compile(rf"{re.escape(BASE)}/ref/([^\s\"<>]+)")
CLICK_LINK = re.compile(rf"{re.escape(BASE)}/r/([^\s\"<>]+)")


def parts(composer: Composer, sequence: SequenceConfig, index: int) -> tuple[str, str]:
    """The text and HTML of a step as the full sample lead gets it in a real send."""
    lead = lead_context(SAMPLE_LEADS["full"])
    data = composer.compose(sequence, index, lead, "p", NOW, touch_id=SENT).data
    message = message_from_bytes(data, policy=default)
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def steps_calling(composer: Composer, call: str) -> list[tuple[SequenceConfig, int]]:
    """The shipped steps whose templates call ``call`` (e.g. nps_url)."""
    project = load_project(SHIPPED / "config")
    return [
        (sequence, index)
        for sequence in project.sequences.values()
        for index, step in enumerate(sequence.steps)
        if f"{call}(" in composer.renderer.sources(step.template)
    ]


def test_the_shipped_journeys_go_on_after_the_first_drip():
    sequences = list(load_project(SHIPPED / "config").sequences.values())
    onboarding = [s for s in sequences if s.trigger.stage == "customer"]
    quiet = [s for s in sequences if s.trigger.inactive_for is not None]
    assert onboarding and quiet, "the example shows an onboarding and a re-engagement"
    nurture = [s for s in sequences if s not in onboarding + quiet]
    # A new customer's onboarding pauses everything else; a re-engagement pauses the nurture.
    for first in onboarding:
        assert all(first.priority > s.priority for s in quiet + nurture), first.id
    for sequence in quiet:
        assert all(sequence.priority > s.priority for s in nurture), sequence.id
        assert sequence.sunset is not None, f"{sequence.id}: no engagement must end in a sunset"
        assert any(g.event == "click" for g in sequence.goals), f"{sequence.id}: a click ends it"
    # ... and once a customer, never the nurture again (a stage goal ends it, not a pause).
    for sequence in nurture:
        assert any(g.stage for g in sequence.goals), f"{sequence.id}: a customer stays in it"
    # The preference page offers topics: every shipped sequence has one.
    assert all(s.topic for s in sequences), [s.id for s in sequences if not s.topic]


def test_each_satisfaction_email_offers_the_eleven_scores_as_links_that_read_back():
    composer = shipped_composer()
    found = steps_calling(composer, "nps_url")
    assert any(s.trigger.stage == "customer" for s, _ in found), "customers are never asked"
    for sequence, index in found:
        for part in parts(composer, sequence, index):
            tokens = SCORE_LINK.findall(part)
            # Whole links (a mail client ends one at a space), one per score, naming the send.
            scores = sorted((n.score, n.touch_id) for n in map(composer.links.read_nps, tokens))
            assert scores == [(n, SENT) for n in range(11)], f"{sequence.id}: {scores}"


def test_each_referral_email_carries_the_customers_own_untracked_link():
    composer = shipped_composer()
    found = steps_calling(composer, "referral_url")
    assert any(s.trigger.stage == "customer" for s, _ in found), "customers are never asked"
    for sequence, index in found:
        for part in parts(composer, sequence, index):
            # As is, not through a click redirect: whoever it is forwarded to clicks it.
            tokens = REFERRAL_LINK.findall(part)
            assert tokens, f"{sequence.id}/{sequence.steps[index].id}: no referral link"
            assert {composer.links.read_referral(t) for t in tokens} == {"p"}


def test_the_last_reengagement_email_keeps_the_lead_with_one_tracked_click():
    composer = shipped_composer()
    for sequence in load_project(SHIPPED / "config").sequences.values():
        if sequence.trigger.inactive_for is None:
            continue
        for part in parts(composer, sequence, len(sequence.steps) - 1):
            clicked = {composer.links.read_click(t).url for t in CLICK_LINK.findall(part)}
            assert clicked & set(sequence.links.values()), f"{sequence.id}: no link to click"


def test_every_shipped_subject_is_short_and_whole_with_and_without_a_name():
    project = load_project(SHIPPED / "config")
    composer = shipped_composer()
    for sequence in project.sequences.values():
        for index, step in enumerate(sequence.steps):
            for sample, lead in SAMPLE_LEADS.items():
                rendered, _ = composer.render(sequence, index, lead_context(lead), "p")
                subject, where = rendered.subject, f"{sequence.id}/{step.id} ({sample})"
                assert subject and subject == subject.strip(), where
                # A missing first name leaves no gap ("Willkommen , !") and no "None".
                assert not re.search(r"None|[{}]|\s[,.!?]|^[,.!?]|[,–-]\s*$", subject), where
                assert len(subject) <= 65, f"{where}: inboxes cut {len(subject)} characters"


def required_values(form) -> dict:  # type: ignore[no-untyped-def]
    """A valid submission of the form: each required field filled, consent given."""
    values: dict = {"consent": True}
    for field in form.fields:
        if field.name == "email":
            values["email"] = "new.lead@example.com"
        elif field.required:
            values[field.name] = (
                field.options[0]
                if field.type == "select"
                else True
                if field.type == "checkbox"
                else "Test"
            )
    return values


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the content, not the database
async def test_each_shipped_form_page_confirmation_and_unsubscribe_page_works(settings):
    settings = settings.model_copy(
        update={"config_dir": SHIPPED / "config", "templates_dir": SHIPPED / "templates"}
    )
    project = load_project(settings.config_dir)
    outbox = MemoryTransport.outboxes.setdefault(
        settings.mail_url.get_secret_value().split("://")[1], []
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        index = await client.get("/")
        assert index.status_code == 200
        for form in project.forms.values():
            assert f'href="/f/{form.id}"' in index.text
            page = await client.get(f"/f/{form.id}")
            assert page.status_code == 200 and 'name="consent"' in page.text, form.id
            posted = await client.post(f"/f/{form.id}", json=required_values(form))
            assert posted.status_code == 201, (form.id, posted.text)
            if form.double_opt_in:
                body = message_from_bytes(outbox.pop().data, policy=default)
                text = body.get_body(("plain",)).get_content()
                link = re.search(rf"{BASE}(/c/\S+)", text)
                assert link, f"{form.id}: the confirmation email has no confirmation link"
                button = await client.get(link[1])  # a page with the button; nothing changes
                assert button.status_code == 200 and 'method="post"' in button.text, form.id
                confirmed = await client.post(link[1])
                assert confirmed.status_code == 200 and form.confirmed.title in confirmed.text
            thanks = await client.get(f"/f/{form.id}/thanks")
            assert thanks.status_code == 200 and form.thank_you.title in thanks.text
        # The first email of the drip goes out when due; its unsubscribe page and button work.
        async with session_scope(settings.database_url.get_secret_value()) as session:
            due = await next_due(session)
        assert due is not None, "no form starts a drip"
        assert (await run_pass(build_dispatcher(settings), due)).total("sent") >= 1
        first = message_from_bytes(outbox[0].data, policy=default)
        path = first["List-Unsubscribe"].strip("<>").removeprefix(BASE)
        page = await client.get(path)
        assert page.status_code == 200 and "<form" in page.text
        done = await client.post(path)
        assert done.status_code == 200 and "<form" not in done.text
