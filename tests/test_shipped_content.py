"""The shipped example (config/ and templates/ at the repository root), what a new project
starts from, checked as `nurture config check` does: it loads, every email renders with the
sample leads, and its pages and links work. The rest of the suite runs on its own project
(tests/fixtures/project), so a marketer's edit of the example breaks this module only, and
only when the edit is wrong. Nothing here counts rules or steps or reads a subject."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import httpx
import pytest

from nurture.app import create_app
from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.check import check_handoff_email
from nurture.ledger.claims import next_due
from nurture.links import Links
from nurture.mail.transports import MemoryTransport
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import Composer, lead_context
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
