"""Pages: a template per locale before the common one, ``_()`` and ``{% trans %}`` from the
page's catalog, ``text()`` by the form's chain, and the Content-Language header."""

from __future__ import annotations

from nurture.web.state import Pages


def test_page_files_and_gettext(tmp_path):
    (tmp_path / "p.html.j2").write_text(
        '<html lang="{{ locale }}">{% trans %}Submit{% endtrans %}|{{ _("Saved.") }}|'
        "{{ text(title) }}|{{ _('Score %(score)s', score=n) }}"
    )
    (tmp_path / "p.sv.html.j2").write_text("svensk sida {{ _('Submit') }}")
    pages = Pages(tmp_path)
    title = {"de": "Titel", "en": "Title"}
    de = pages.render("p.html.j2", locale="de-AT", declared=["de", "en"], title=title, n="<b>")
    assert de.body.decode() == '<html lang="de-AT">Absenden|Gespeichert.|Titel|Score &lt;b&gt;'
    assert de.headers["content-language"] == "de-AT"
    en = pages.render("p.html.j2", locale="en", declared=["de", "en"], title=title, n=1)
    assert en.body.decode() == '<html lang="en">Submit|Saved.|Title|Score 1'
    sv = pages.render("p.html.j2", locale="sv", title=title, n=1)
    assert sv.body.decode() == "svensk sida Skicka"
