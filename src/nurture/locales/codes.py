"""Locale codes and the one fallback chain: a lead's locale (``de-AT``), its language
(``de``), then the first locale a sequence or form declares. Everything that picks text,
a template or a page for a lead goes through ``resolve``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.languages import get_official_languages

# What a marketer writes: a language (de), or a language and a country (de-AT, en_GB).
_CODE = re.compile(r"^(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?$")


@lru_cache(maxsize=4096)  # per message in a batch; leads share a few locales
def normalize(value: str | None) -> str | None:
    """``de``, ``de-AT``: language lower case, country upper case, a hyphen between; None
    for anything that is no locale code babel knows (never raises: lead data is data)."""
    if not value or not isinstance(value, str):
        return None
    match = _CODE.match(value.strip())
    if not match:
        return None
    lang, region = match["lang"].lower(), match["region"]
    try:
        Locale(lang, region.upper() if region else None)
    except (UnknownLocaleError, ValueError):
        try:
            Locale(lang)  # a known language in a country babel lacks data for: keep it
        except (UnknownLocaleError, ValueError):
            return None
    return f"{lang}-{region.upper()}" if region else lang


def parse_code(value: object) -> str:
    """A locale code a marketer wrote, normalized, or ValueError (config validation)."""
    code = normalize(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"unknown locale {value!r}; use a language code like de, sv or en-GB")
    return code


def language(code: str) -> str:
    return code.partition("-")[0]


def resolve(wanted: str | None, declared: Sequence[str]) -> str:
    """The declared locale for a lead that wants ``wanted``: the exact locale, else one of
    its language (``de-AT`` -> ``de``; ``de`` -> ``de-CH`` if that is all there is), else
    the first declared (the default)."""
    code = normalize(wanted)
    if code is not None:
        if code in declared:
            return code
        lang = language(code)
        if lang in declared:
            return lang
        same = [d for d in declared if language(d) == lang]
        if same:
            return same[0]
    return declared[0]


# Text a marketer writes once or per locale: "Hallo" or {de: "Hallo", sv: "Hej", en: "Hi"}.
LocalizedText = str | Mapping[str, str]


def localized(value: LocalizedText, locale: str, declared: Sequence[str]) -> str:
    """``value`` in ``locale``, by the fallback chain over the locales it has."""
    if isinstance(value, str):
        return value
    return value[resolve(locale, [*[d for d in declared if d in value], *value])]


def missing(value: LocalizedText, declared: Sequence[str]) -> list[str]:
    """The declared locales a per-locale text lacks (none for a text for every locale)."""
    if isinstance(value, str):
        return []
    return [d for d in declared if d not in value]


def from_accept_language(header: str | None, declared: Sequence[str]) -> str | None:
    """The declared locale a browser's ``Accept-Language`` asks for most, or None.
    ``q=0`` means "not this one"; malformed parts are ignored (it is a client's header)."""
    if not header:
        return None
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        code = normalize(tag.strip())
        if code is not None and q > 0:
            wanted.append((-q, i, code))
    for _, _, code in sorted(wanted):
        if code in declared or language(code) in {language(d) for d in declared}:
            return resolve(code, declared)
    return None


def from_country(country: str | None, declared: Sequence[str]) -> str | None:
    """The declared locale spoken in an ISO country (``SE`` -> ``sv``, ``AT`` -> ``de``),
    official languages first, or None."""
    if not country or len(country.strip()) != 2:
        return None
    region = country.strip().upper()
    for lang in get_official_languages(region, de_facto=True):
        for code in (f"{lang}-{region}", lang):
            if code in declared:
                return code
        same = [d for d in declared if language(d) == lang]
        if same:
            return same[0]
    return None


def choose(
    declared: Sequence[str],
    field: str | None = None,
    accept_language: str | None = None,
    country: str | None = None,
) -> str:
    """A new lead's locale: the form field, else the page's Accept-Language, else the
    country, else the default (the first declared)."""
    code = normalize(field)
    if code is not None:
        return resolve(code, declared)
    return (
        from_accept_language(accept_language, declared)
        or from_country(country, declared)
        or declared[0]
    )


def detect(
    declared: Sequence[str],
    field: str | None = None,
    accept_language: str | None = None,
    country: str | None = None,
) -> str | None:
    """A lead's locale at capture, or None: the first signal that names a declared locale's
    language (a form field, the page's Accept-Language, an ISO country). Unlike ``choose`` it
    does not fall back to the default: a lead without a signal keeps none, and each sequence
    then applies its own default."""
    if not declared:
        return None
    code = normalize(field)
    if code is not None and language(code) in {language(d) for d in declared}:
        return resolve(code, declared)
    return from_accept_language(accept_language, declared) or from_country(country, declared)


def babel_locale(code: str) -> Locale:
    """The babel Locale to format dates and numbers for ``code`` (de if babel lacks it)."""
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale("de")
