import pytest

from nurture.rendering.inline import InlineError, inline_template_source

CSS = "p { color: red; } .button { background: green; }"


def test_css_is_inlined_and_jinja_kept_verbatim():
    source = (
        '<p>{% if a > b %}{{ lead.first_name or "du" }}{% endif %}</p>'
        '<a class="button" href="{{ links.demo }}">x</a>'
    )
    out = inline_template_source(source, CSS)
    assert (
        '<p style="color: red;">{% if a > b %}{{ lead.first_name or "du" }}{% endif %}</p>' in out
    )
    assert 'href="{{ links.demo }}"' in out and "background: green" in out


def test_jinja_between_table_rows_is_reported():
    source = "<table>{% for x in xs %}<tr><td>{{ x }}</td></tr>{% endfor %}</table>"
    with pytest.raises(InlineError):
        inline_template_source(source, CSS)
