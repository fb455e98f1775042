"""The shipped example (config/ and templates/ at the repository root), what a new project
starts from, checked as `nurture config check` does: it loads, every email renders with the
sample leads, and its pages and links work; and the lifecycle the README describes is there
(an onboarding on stage customer above the nurture, a re-engagement that ends in a sunset),
with score and referral links that work; and each language a sequence or form declares is
really that language, in the body, the footer and the page. The rest of the suite runs on
its own project (tests/fixtures/project), so a marketer's edit of the example breaks this
module only, and only when the edit is wrong. Nothing here counts rules or steps or reads a
subject's words: a language is told by its commonest little words (LANGUAGE_WORDS)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from html import unescape

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
from nurture.locales.codes import localized
from nurture.mail.transports import MemoryTransport
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context, locale_of
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
    cases = [
        (sequence, index, step, locale)
        for sequence in project.sequences.values()
        for index, step in enumerate(sequence.steps)
        for locale in sequence.locales
    ]
    for sequence, index, step, locale in cases:
        where = f"{sequence.id}/{step.id} ({locale})"
        data = composer.compose(sequence, index, lead, "p", NOW, touch_id=index + 1, locale=locale)
        message = message_from_bytes(data.data, policy=default)
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
    cases = [
        (sequence, index, step, locale, arm, sample, lead)
        for sequence in project.sequences.values()
        for index, step in enumerate(sequence.steps)
        for locale in sequence.locales
        for arm in [None, *(v.id for v in step.variants)]
        for sample, lead in SAMPLE_LEADS.items()
    ]
    for sequence, index, step, locale, arm, sample, lead in cases:
        rendered, _ = composer.render(
            sequence, index, lead_context(lead), "p", variant=arm, locale=locale
        )
        subject = rendered.subject
        where = f"{sequence.id}/{step.id} ({locale}, {arm or 'step'}, {sample})"
        assert subject and subject == subject.strip(), where
        # A missing first name leaves no gap ("Willkommen , !") and no "None".
        assert not re.search(r"None|[{}]|\s[,.!?]|^[,.!?]|[,–-]\s*$", subject), where
        assert len(subject) <= 65, f"{where}: inboxes cut {len(subject)} characters"


# The commonest little words of each language, none of them a word of another (no "in", "den",
# "er", "men", "will"): a text is in the language whose words it uses most, by far.
# fmt: off
LANGUAGE_WORDS = {
    "de": {"der", "die", "das", "und", "ist", "nicht", "mit", "für", "sie", "ihr", "ihre",
           "ihnen", "wir", "sich", "auf", "ein", "eine", "einen", "einem", "zu", "von", "auch",
           "wie", "oder", "aber", "weil", "diese", "haben", "wird", "uns", "dass"},
    "sv": {"och", "att", "det", "är", "inte", "med", "för", "du", "dig", "din", "ditt", "vi",
           "som", "på", "en", "ett", "av", "till", "har", "kan", "så", "om", "eller",
           "eftersom", "här", "vår", "jag"},
    "en": {"the", "and", "is", "not", "with", "for", "you", "your", "we", "our", "to", "of",
           "a", "that", "this", "it", "are", "on", "or", "but", "because", "have", "at", "be",
           "i"},
}
# fmt: on
WORD = re.compile(r"[^\W\d_]+")
TAG = re.compile(r"<(style|script)\b.*?</\1>|<[^>]+>", re.S)


def visible(html: str) -> str:
    """What a reader sees of an HTML part or page: no tags, styles or scripts, no entities."""
    return unescape(TAG.sub(" ", html))


def language(text: str) -> str | None:
    """The language of ``text`` by its little words, or None when that is not clear."""
    words = [w.lower() for w in WORD.findall(text)]
    counts = {code: sum(w in little for w in words) for code, little in LANGUAGE_WORDS.items()}
    best = max(counts, key=counts.__getitem__)
    others = max(n for code, n in counts.items() if code != best)
    return best if counts[best] >= 5 and counts[best] > 2 * others else None


def footer(text: str, html: str, unsubscribe: str) -> tuple[str, str]:
    """Why the lead gets the email and how to stop it: the text part's last paragraph, the
    HTML's last innermost cell with the unsubscribe link, without the sender's imprint
    (German in any language: it is the law of the sender's seat)."""
    cells = re.findall(r"<td[^>]*>((?:(?!<td).)*?)</td>", html, re.S)
    cell = [c for c in cells if unsubscribe in c][-1]
    return text.rsplit("\n\n", 1)[-1], visible(cell.split("<br>", 1)[-1])


@pytest.mark.parametrize("wanted", [None, "de", "sv", "en", "sv-FI", "en-GB", "fr"])
def test_every_shipped_email_is_in_the_language_its_sequence_gives_the_lead(wanted):
    """A Swedish lead gets Swedish mail, footer and greeting included; a German-only sequence
    (the shared layout) stays German for everyone."""
    project = load_project(SHIPPED / "config")
    composer = shipped_composer()
    for sequence in project.sequences.values():
        expected = locale_of(sequence, wanted)
        for index, step in enumerate(sequence.steps):
            for sample, lead in SAMPLE_LEADS.items():
                where = f"{sequence.id}/{step.id} ({wanted} -> {expected}, {sample})"
                data = composer.compose(
                    sequence, index, lead_context({**lead, "locale": wanted}), "p", NOW
                ).data
                message = message_from_bytes(data, policy=default)
                text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
                html = message.get_body(("html",)).get_content()
                unsubscribe = message["List-Unsubscribe"].strip("<>")
                assert message["Content-Language"] == expected, where
                assert f'<html lang="{expected}">' in html, where
                assert language(text) == expected, f"{where}: text part\n{text}"
                assert language(visible(html)) == expected, f"{where}: HTML part"
                for part in footer(text.strip(), html, unsubscribe):
                    assert language(part) == expected, f"{where}: footer {part!r}"


def test_each_language_greets_in_its_own_words_and_links_to_the_same_pages():
    """No German "Hallo zusammen" left in a Swedish email: the greeting lines of two locales
    share no word but the lead's name. And a translation changes words, not where they lead:
    the same links, each in the lead's language where the sequence gives one per locale."""
    project = load_project(SHIPPED / "config")
    composer = shipped_composer()
    several = [s for s in project.sequences.values() if len(s.locales) > 1]
    assert several, "the example shows a sequence in several languages"
    for sequence in several:
        for index, step in enumerate(sequence.steps):
            for sample, lead in SAMPLE_LEADS.items():
                greetings: dict[str, set[str]] = {}
                targets: dict[str, tuple[set[str], set[str]]] = {}
                for locale in sequence.locales:
                    data = composer.compose(
                        sequence, index, lead_context(lead), "p", NOW, touch_id=SENT, locale=locale
                    ).data
                    message = message_from_bytes(data, policy=default)
                    text = message.get_body(("plain",)).get_content()
                    html = message.get_body(("html",)).get_content()
                    first = text.strip().splitlines()[0]
                    assert not re.search(r"None|\s[,.!?]", first), (sequence.id, step.id, first)
                    greetings[locale] = {w.lower() for w in WORD.findall(first)}
                    # A link given per locale is the same page in another language.
                    names = {url: name for name, url in sequence.links_for(locale).items()}
                    targets[locale] = tuple(  # type: ignore[assignment]
                        {
                            names.get(url, url)
                            for url in (
                                composer.links.read_click(t).url for t in CLICK_LINK.findall(part)
                            )
                        }
                        for part in (text, html)
                    )
                name = {(lead.get("first_name") or "").lower()}
                where = f"{sequence.id}/{step.id} ({sample})"
                for a, b in [(a, b) for a in greetings for b in greetings if a < b]:
                    assert not (greetings[a] & greetings[b]) - name, f"{where}: {a} and {b}"
                first_locale = sequence.locales[0]
                for locale in sequence.locales[1:]:
                    assert targets[locale] == targets[first_locale], f"{where}: {locale} links"


def test_the_shipped_configs_keep_their_schema_line():
    """The editor completes and checks keys only with the first line (docs/config.md)."""
    for path in sorted((SHIPPED / "config").rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{path}: no yaml-language-server line"
        assert (path.parent / match[1]).resolve().is_file(), f"{path}: {match[1]} not found"


def required_values(form, locale: str) -> dict:  # type: ignore[no-untyped-def]
    """A valid submission of the form from its page in ``locale``: each required field
    filled, consent given, the page's locale carried along as its hidden field does."""
    values: dict = {"consent": True, "locale": locale}
    for field in form.fields:
        if field.name == "email":
            values["email"] = f"new.lead.{locale}@example.com"
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
    """Each form in each of its languages, as a visitor goes through it: the page, the
    confirmation email, the confirmed and thank-you pages; then the drip's first email in
    the lead's language, whose unsubscribe page works."""
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
        drips: dict[str, str] = {}  # email -> the language of its first drip email
        for form, locale in [(f, c) for f in project.forms.values() for c in f.locales]:
            where = f"{form.id} ({locale})"
            assert f'href="/f/{form.id}"' in index.text
            page = await client.get(f"/f/{form.id}", headers={"Accept-Language": locale})
            assert page.status_code == 200 and 'name="consent"' in page.text, where
            assert page.headers["Content-Language"] == locale, where
            assert f'<html lang="{locale}">' in page.text, where
            seen = visible(page.text)
            assert (
                localized(form.title, locale, form.locales) in seen
                and localized(form.consent.text, locale, form.locales) in seen
            ), where
            if len(form.locales) > 1:  # one language per page, the form's field labels too
                assert language(seen) == locale, f"{where}: the page\n{seen}"
            values = required_values(form, locale)
            if form.sequences:  # the lead's drip starts in its own language, by that chain
                first = project.sequences[form.sequences[0]]
                drips[values["email"]] = locale_of(first, locale)
            posted = await client.post(f"/f/{form.id}", json=values)
            assert posted.status_code == 201, (where, posted.text)
            if form.double_opt_in:
                body = message_from_bytes(outbox.pop().data, policy=default)
                assert body["Content-Language"] == locale, where
                if form.confirmation_subject is not None:
                    subject = localized(form.confirmation_subject, locale, form.locales)
                    assert body["Subject"] == subject, where
                text = body.get_body(("plain",)).get_content()
                link = re.search(rf"{BASE}(/c/\S+)", text)
                assert link, f"{where}: the confirmation email has no confirmation link"
                button = await client.get(link[1])  # a page with the button; nothing changes
                assert button.status_code == 200 and 'method="post"' in button.text, where
                confirmed = await client.post(link[1])
                assert confirmed.status_code == 200, where
                assert unescape(localized(form.confirmed.title, locale, form.locales)) in unescape(
                    confirmed.text
                ), where
            thanks = await client.get(f"/f/{form.id}/thanks?lang={locale}")
            assert thanks.status_code == 200, where
            assert unescape(localized(form.thank_you.title, locale, form.locales)) in unescape(
                thanks.text
            ), where
        # The first email of each drip goes out when due (the leads' welcomes are the
        # earliest touches), in the lead's language; its unsubscribe page and button work.
        for _ in drips:
            async with session_scope(settings.database_url.get_secret_value()) as session:
                due = await next_due(session)
            assert due is not None, "no form starts a drip"
            assert (await run_pass(build_dispatcher(settings), due)).total("sent") >= 1
        welcomed = set()
        for mail in outbox:
            message = message_from_bytes(mail.data, policy=default)
            (to,) = [a.addr_spec for a in message["To"].addresses]
            welcomed.add(to)
            text = message.get_body(("plain",)).get_content()
            assert message["Content-Language"] == drips[to], to
            assert language(text) == drips[to], f"{to}: not in {drips[to]}\n{text}"
        assert welcomed == set(drips), "each lead gets its first email"
        first = message_from_bytes(outbox[0].data, policy=default)
        path = first["List-Unsubscribe"].strip("<>").removeprefix(BASE)
        page = await client.get(path)
        assert page.status_code == 200 and "<form" in page.text
        done = await client.post(path)
        assert done.status_code == 200 and "<form" not in done.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the content, not the database
async def test_the_preview_shows_every_shipped_email_without_an_error(settings):
    """/preview/ on the shipped example: each sequence's page has an email per step, locale
    and variant, each with a subject and no error box (a template that fails shows there)."""
    settings = settings.model_copy(
        update={"config_dir": SHIPPED / "config", "templates_dir": SHIPPED / "templates"}
    )
    project = load_project(settings.config_dir)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost:8000"
    ) as client:  # local: the preview opens
        index = await client.get("/preview/")
        for sequence in project.sequences.values():
            assert f'href="/preview/{sequence.id}"' in index.text
            page = await client.get(f"/preview/{sequence.id}")
            assert page.status_code == 200, sequence.id
            expected = sum(max(1, len(s.variants)) for s in sequence.steps)
            expected *= len(sequence.locales)
            assert page.text.count('<article class="card email"') == expected, sequence.id
            assert page.text.count('<div class="subject"') == expected, sequence.id
            assert "card email error" not in page.text, sequence.id
