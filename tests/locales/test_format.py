"""The babel filters, as a marketer's sequence template uses them (rendering.Renderer)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from nurture.rendering.render import Renderer

SOURCE = (
    "{{ when | format_date }}|{{ when | format_datetime('short', tz='Europe/Stockholm') }}|"
    "{{ n | format_number }}|{{ price | format_currency('EUR') }}|{{ 0.25 | format_percent }}"
)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "12.03.2027|12.03.27, 11:30|1.234,5|1.234,50\xa0€|25\xa0%"),
        ("sv", "12 mars 2027|2027-03-12 11:30|1\xa0234,5|1\xa0234,50\xa0€|25\xa0%"),
        ("en", "Mar 12, 2027|3/12/27, 11:30\u202fAM|1,234.5|€1,234.50|25%"),
    ],
)
def test_filters_format_for_the_context_locale(tmp_path, locale, expected):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "t.html.j2").write_text(SOURCE)
    (tmp_path / "email" / "t.txt.j2").write_text(SOURCE)
    context = {
        "locale": locale,
        "when": datetime(2027, 3, 12, 10, 30, tzinfo=UTC),
        "n": 1234.5,
        "price": Decimal("1234.50"),
    }
    rendered = Renderer(tmp_path).render("t", "{{ n | format_number }}", context, locale)
    assert rendered.text == expected
    assert rendered.subject == expected.split("|")[2]
