"""Every UI string of our pages (templates/landing/*, and what Python puts on a page) has a
translation in every catalog; the catalogs are .po files compiled when first used."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from nurture.locales.catalog import FOLDER, LANGUAGES, catalog, translate
from tests.conftest import ROOT

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PAGES = sorted((ROOT / "templates" / "landing").glob("*.j2"))
PYTHON = [
    f
    for pkg in ("capture", "tracking", "loyalty", "handoff", "web")
    for f in sorted((ROOT / "src" / "nurture" / pkg).glob("*.py"))
]


def _strings() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PAGES:
        options = {"extensions": "jinja2.ext.i18n"}
        for _, msg, _, _ in extract_from_file(
            "jinja2.ext.babel_extract", str(path), keywords=KEYWORDS, options=options
        ):
            found.setdefault(msg if isinstance(msg, str) else msg[0], path)
    for path in PYTHON:
        for _, msg, _, _ in extract_from_file("python", str(path), keywords=KEYWORDS):
            found.setdefault(msg if isinstance(msg, str) else msg[0], path)
    return found


def test_the_pages_have_strings_to_translate():
    strings = _strings()
    assert "Yes, unsubscribe" in strings and "this field is required" in strings
    assert len(strings) > 50


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_has_a_translation_in_every_catalog(lang):
    translated = {m.id: m.string for m in catalog(lang) if m.id}
    lacking = [f"{path.name}: {s!r}" for s, path in _strings().items() if not translated.get(s)]
    assert not lacking, f"{lang} catalog lacks: {lacking}"


def test_placeholders_survive_translation():
    for lang in LANGUAGES:
        for m in catalog(lang):
            if m.id and "%(" in m.id:
                names = sorted(part.split(")")[0] for part in m.id.split("%(")[1:])
                assert sorted(p.split(")")[0] for p in m.string.split("%(")[1:]) == names, m.id


def test_translations_by_locale_and_fallback():
    assert translate("sv", "Yes, unsubscribe") == "Ja, avregistrera mig"
    assert translate("de-AT", "Submit") == "Absenden"
    assert translate("fi", "Submit") == "Submit"  # no catalog: the English msgid
    assert translate("sv", "at most %(max)s characters", max=5) == "högst 5 tecken"
    assert not list(FOLDER.rglob("*.mo"))  # compiled at load: no build step to forget
