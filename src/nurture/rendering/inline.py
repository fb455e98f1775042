"""Inline CSS into a Jinja HTML template's *source*, once per template instead of per lead."""

from __future__ import annotations

import re

import css_inline

# Private-use characters: never in real templates, kept as-is by the HTML parser.
_OPEN, _CLOSE = "\ue000", "\ue001"
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_MARK = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


class InlineError(ValueError):
    pass


def inline_template_source(source: str, css: str) -> str:
    """Inline ``css`` into the HTML of a Jinja template, keeping every Jinja tag intact.

    Jinja tags are swapped for markers before the HTML parser sees the source (it would escape
    ``>`` in ``{% if a > b %}``), then put back. A tag the parser moved (e.g. ``{% for %}``
    between table rows) is reported rather than silently producing a different template.
    """
    tags: list[str] = []

    def protect(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"{_OPEN}{len(tags) - 1}{_CLOSE}"

    protected = _JINJA.sub(protect, source)
    if re.search(r"<html[\s>]", protected, re.IGNORECASE):
        inlined = css_inline.inline(protected, extra_css=css)
    else:
        inlined = css_inline.inline_fragment(protected, css)
    order = [int(m) for m in _MARK.findall(inlined)]
    if order != list(range(len(tags))):
        raise InlineError(
            "the HTML parser moved Jinja tags (tags between <table>/<tr>/<td> parts?); "
            "put them inside a cell or around the whole table"
        )
    return _MARK.sub(lambda m: tags[int(m.group(1))], inlined)
