"""A lead's locale at capture: the order of the signals and a browser's header as it comes."""

from __future__ import annotations

import pytest

from nurture.locales.codes import detect, from_accept_language

DECLARED = ["de", "sv", "en"]


def test_field_beats_header_beats_country():
    assert detect(DECLARED, "en", "sv-SE,sv;q=0.9", "DE") == "en"
    assert detect(DECLARED, None, "sv-SE,sv;q=0.9", "DE") == "sv"
    assert detect(DECLARED, None, None, "SE") == "sv"
    assert detect(DECLARED, None, "fr-FR", "AT") == "de"


def test_no_signal_leaves_the_locale_empty():
    # the sequence's default applies at render time, not a guess stored on the lead
    assert detect(DECLARED) is None
    assert detect(DECLARED, "fr", "fr-FR,it;q=0.5", "FR") is None


def test_a_field_in_a_language_nobody_declares_gives_way_to_the_header():
    assert detect(DECLARED, "fr", "sv", None) == "sv"


def test_a_regional_field_resolves_to_the_declared_language():
    assert detect(DECLARED, "de-AT") == "de"
    assert detect(["de", "de-CH"], "de-CH") == "de-CH"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sv;q=0, en;q=0.5", "en"),  # q=0: "not this one"
        ("sv;q=0", None),
        ("*", None),  # anything: no preference to act on
        ("*;q=0.8, sv;q=0.1", "sv"),
        ("en;q=0.2, sv;q=0.9, de;q=0.5", "sv"),
        ("en;q=abc, sv", "sv"),  # a garbled q counts as 0
        ("garbage,,;;;===", None),
        (";q=1", None),
        ("", None),
        ("EN-gb", "en"),
        ("sv-FI;q=0.7, de;q=0.7", "sv"),  # a tie: the earlier one
        ("x" * 5000, None),
    ],
)
def test_accept_language_edge_cases(header, expected):
    assert from_accept_language(header, DECLARED) == expected
