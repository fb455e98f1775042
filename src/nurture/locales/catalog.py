"""The UI strings of our own pages and messages in de, sv and en: gettext catalogs kept as
.po files (locales/messages/<lang>/LC_MESSAGES/nurture.po), compiled with babel when first
used, so there is no build step and no .mo file to forget. msgids are English; a locale we
have no catalog for gets them as they are (docs/config.md#languages)."""

from __future__ import annotations

import gettext as _gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from nurture.locales.codes import language, normalize

FOLDER = Path(__file__).parent / "messages"
DOMAIN = "nurture"
# The languages we ship UI strings for (each has a catalog; tests/locales checks them all).
LANGUAGES = ("de", "sv", "en")


def N_(message: str) -> str:
    """Marks a string for the catalogs where it is defined; it is translated where shown."""
    return message


def po_path(lang: str) -> Path:
    return FOLDER / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=8)
def catalog(lang: str) -> Catalog:
    """A language's catalog as babel reads it (for checks: what it lacks)."""
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


@lru_cache(maxsize=64)
def translations(code: str | None) -> _gettext.NullTranslations:
    """The gettext translations for a locale code (``sv-FI`` -> sv's catalog); msgids as
    they are for a language without a catalog."""
    norm = normalize(code)
    lang = language(norm) if norm else None
    if lang not in LANGUAGES:
        return _gettext.NullTranslations()
    buffer = BytesIO()
    write_mo(buffer, catalog(lang))
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def translate(locale: str | None, message: str, **values: object) -> str:
    """``message`` in ``locale``, with ``%(name)s`` placeholders filled from ``values``."""
    text = translations(locale).gettext(message)
    return text % values if values else text
