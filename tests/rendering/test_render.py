"""The renderer: lead data is data, HTML is escaped and the rest is not, every name must exist,
templates cannot reach out of the sandbox, CSS is inlined."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from nurture.rendering.render import Renderer

HTML = '<p class="greeting">Hallo {{ lead.first_name }}</p>'
TEXT = "Hallo {{ lead.first_name }}"


def renderer(
    tmp_path: Path, html: str = HTML, text: str = TEXT, css: str | None = None
) -> Renderer:
    folder = tmp_path / "email"
    folder.mkdir(exist_ok=True)
    (folder / "t.html.j2").write_text(html, encoding="utf-8")
    (folder / "t.txt.j2").write_text(text, encoding="utf-8")
    if css is not None:
        (folder / "style.css").write_text(css, encoding="utf-8")
    return Renderer(tmp_path)


def lead(**fields: object) -> dict[str, object]:
    return {"lead": {"first_name": "Max", "custom": {}, **fields}}


@pytest.mark.parametrize("value", ["{{ 7*7 }}", "{% if true %}x{% endif %}", "{{ lead }}"])
def test_lead_data_is_printed_as_written_never_evaluated(tmp_path, value):
    out = renderer(tmp_path).render("t", "Für {{ lead.first_name }}", lead(first_name=value))
    assert out.subject == f"Für {value}"
    assert out.text == f"Hallo {value}"
    assert out.html == f'<p class="greeting">Hallo {value}</p>'


def test_html_is_escaped_text_and_subject_are_not(tmp_path):
    value = '<b>Tom & "Jerry"</b>'
    out = renderer(tmp_path).render("t", "{{ lead.first_name }}", lead(first_name=value))
    assert out.html == '<p class="greeting">Hallo &lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;</p>'
    assert out.text == f"Hallo {value}"
    assert out.subject == value


def test_a_name_that_does_not_exist_is_an_error_not_an_empty_string(tmp_path):
    r = renderer(tmp_path, text="Hallo {{ lead.frist_name }}")
    with pytest.raises(UndefinedError, match="frist_name"):
        r.render("t", "Hallo", lead())
    with pytest.raises(UndefinedError, match="nope"):
        renderer(tmp_path).render("t", "{{ nope }}", lead())


def test_none_prints_as_none_so_templates_use_or_for_fallbacks(tmp_path):
    # An empty field is None, not undefined: "or" gives the fallback, as the templates do.
    r = renderer(tmp_path, text='Hallo {{ lead.first_name or "zusammen" }}')
    assert r.render("t", "x", lead(first_name=None)).text == "Hallo zusammen"


@pytest.mark.parametrize(
    "expression",
    ["{{ ''.__class__.__mro__ }}", "{{ lead.__class__ }}", "{{ lead.custom.update(x=1) }}"],
)
def test_templates_cannot_reach_python_internals_or_change_lead_data(tmp_path, expression):
    with pytest.raises(SecurityError):
        renderer(tmp_path, text=expression).render("t", "x", lead())
    with pytest.raises(SecurityError):
        renderer(tmp_path).render("t", expression, lead())


def test_style_css_is_inlined_into_the_html_part_only(tmp_path):
    r = renderer(tmp_path, css=".greeting { color: #0f6b5c; }")
    out = r.render("t", "x", lead())
    assert out.html == '<p class="greeting" style="color: #0f6b5c;">Hallo Max</p>'
    assert out.text == "Hallo Max"


def test_a_jinja_tag_between_table_rows_is_refused_not_reordered(tmp_path):
    table = (
        "<table>{% for x in [1, 2] %}<tr><td>{{ x }}</td></tr>{% endfor %}</table>"
        "<p>{{ lead.first_name }}</p>"
    )
    r = renderer(tmp_path, html=table, css="td { color: red; }")
    with pytest.raises(TemplateError, match="moved Jinja tags"):
        r.render("t", "x", lead())


def test_a_syntax_error_names_the_template_and_line(tmp_path):
    r = renderer(tmp_path, text="Hallo\n{% if lead.first_name %}\n{{ lead.first_name }}")
    with pytest.raises(TemplateSyntaxError) as info:
        r.render("t", "x", lead())
    assert info.value.filename.endswith("t.txt.j2") and info.value.lineno == 3


def test_sources_are_the_raw_templates_with_their_layouts(tmp_path):
    r = renderer(tmp_path, html='{% extends "layout.html.j2" %}', text="plain")
    (tmp_path / "email/layout.html.j2").write_text('<a href="https://x.example">', "utf-8")
    source = r.sources("t")
    assert '{% extends "layout.html.j2" %}' in source and "plain" in source
    assert 'href="https://x.example"' in source
