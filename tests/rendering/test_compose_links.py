"""A sequence's links per locale: each lead gets the page in its language (previews link it
directly, a real send tracks it and the click leads there), one URL serves every language,
and a link given per locale that lacks one the sequence declares is a config error."""

from __future__ import annotations

import re
import shutil

import pytest

from nurture.config.project import load_project
from nurture.config.yamlfile import ConfigError
from tests.conftest import CONTENT
from tests.rendering.test_compose import LEAD, NOW, SEQUENCE, composer, parse, parts

GUIDE = {
    "de": "https://planwerk.example/downloads/leitfaden.pdf",
    "sv": "https://planwerk.example/downloads/guiden.pdf",
    "en": "https://planwerk.example/downloads/the-guide.pdf",
}
PER_LOCALE = SEQUENCE.model_copy(
    update={"locales": ["de", "sv", "en"], "links": {**SEQUENCE.links, "whitepaper": GUIDE}}
)


@pytest.mark.parametrize("locale", ["de", "sv", "en"])
def test_a_preview_links_the_guide_in_the_lead_s_language(locale):
    rendered, _ = composer().render(PER_LOCALE, 0, LEAD, "p", locale=locale)
    assert GUIDE[locale] in rendered.html and GUIDE[locale] in rendered.text
    others = [url for code, url in GUIDE.items() if code != locale]
    assert not any(url in rendered.html + rendered.text for url in others)


def test_a_real_send_tracks_the_link_of_its_language():
    c = composer()
    message = parse(c.compose(PER_LOCALE, 0, LEAD, "p", NOW, touch_id=7, locale="sv").data)
    text, html = parts(message)
    assert GUIDE["sv"] not in text and GUIDE["sv"] not in html  # tracked: a redirect
    clicked = {c.links.read_click(token).url for token in re.findall(r"/r/([A-Za-z0-9_.-]+)", text)}
    assert GUIDE["sv"] in clicked and GUIDE["de"] not in clicked


def test_a_locale_without_its_own_url_gets_the_first_declared():
    partial = PER_LOCALE.model_copy(
        update={"links": {**SEQUENCE.links, "whitepaper": {"de": GUIDE["de"], "en": GUIDE["en"]}}}
    )
    rendered, _ = composer().render(partial, 0, LEAD, "p", locale="sv")
    assert GUIDE["de"] in rendered.text


def test_a_per_locale_link_lacking_a_declared_locale_is_an_error_with_its_line(tmp_path):
    shutil.copytree(CONTENT / "config", tmp_path / "config")
    path = tmp_path / "config" / "sequences" / "b2b-nurture.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("trigger:\n", "locales: [de, sv]\ntrigger:\n", 1)
    old = '  whitepaper: "https://planwerk.example/downloads/leitfaden-ressourcenplanung-2027.pdf"'
    assert old in text
    text = text.replace(old, f'  whitepaper:\n    de: "{GUIDE["de"]}"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path / "config")
    [problem] = [p for p in caught.value.problems if "links" in p.field]
    line = text.splitlines().index("  whitepaper:") + 1
    assert (problem.file.name, problem.line, problem.message) == (
        "b2b-nurture.yaml",
        line,
        "no URL for sv",
    )
