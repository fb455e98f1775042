"""Columns to lead fields, and every record checked with its line and reason."""

from __future__ import annotations

import pytest

from nurture.imports.mapping import MappingError, Problem, build_map, check_records, parse_maps

HEADER = ["E-Mail-Adresse", "Vorname", "Last Name", "Firma", "Job Title", "Land", "Messe-Stand"]


def test_common_english_and_german_headers_are_mapped_and_the_rest_reported():
    columns = build_map(HEADER, {}, keep_unknown=False)
    assert columns.fields == {
        0: "email",
        1: "first_name",
        2: "last_name",
        3: "company",
        4: "job_title",
        5: "country",
    }
    assert columns.ignored == ["Messe-Stand"]
    kept = build_map(HEADER, {}, keep_unknown=True)
    assert kept.fields[6] == "custom.messe_stand" and kept.ignored == []


def test_map_options_come_first_and_can_leave_a_column_out():
    maps = parse_maps(["Messe-Stand=custom.stand", "land=-", "Job Title=company", "Firma=-"])
    columns = build_map(HEADER, maps, keep_unknown=False)
    assert columns.fields[6] == "custom.stand" and columns.fields[4] == "company"
    assert 5 not in columns.fields and sorted(columns.ignored) == ["Firma", "Land"]


@pytest.mark.parametrize(
    ("maps", "message"),
    [
        (["Fax=email"], "no column 'Fax'"),
        (["Vorname=email", "Firma=email"], "both map to email"),
        (["Vorname"], "COLUMN=FIELD"),
        (["Vorname=vorname"], "unknown field 'vorname'"),
        (["Vorname=custom.a b"], "unknown field"),
    ],
)
def test_a_map_that_cannot_be_is_refused(maps, message):
    with pytest.raises(MappingError, match=message):
        build_map(HEADER, parse_maps(maps), keep_unknown=False)


def test_a_map_wins_over_the_header_that_would_have_mapped_to_the_same_field():
    columns = build_map(HEADER, parse_maps(["Vorname=email"]), keep_unknown=False)
    assert columns.fields[1] == "email" and "E-Mail-Adresse" in columns.ignored


def test_a_file_without_an_address_column_is_refused():
    with pytest.raises(MappingError, match="no column holds the email address"):
        build_map(["Name", "Firma"], {}, keep_unknown=False)


def test_each_bad_record_is_reported_with_its_line_and_the_rest_pass():
    columns = build_map(["email", "first_name", "timezone", "x"], parse_maps(["x=custom.x"]), False)
    records = [
        (2, [" Jana@Example.DE ", "Jana", "Europe/Berlin", "1"]),
        (3, ["kein-at-zeichen", "A", "", ""]),
        (4, ["", "Ohne Adresse", "", ""]),
        (5, ["jana@example.de", "Doppelt", "", ""]),
        (6, ["b@example.de", "x" * 101, "", ""]),
        (7, ["c@example.de", "C", "Mars/Olympus", ""]),
        (8, ["d@example.de", "D", "", "", "extra"]),
        (9, ["e@example.de", "E", "", "", ""]),  # an empty trailing cell is no extra value
        (10, ["f@example.de"]),  # missing trailing cells are empty
    ]
    rows, problems = check_records(records, columns, width=4)
    assert [(r.line, r.email) for r in rows] == [
        (2, "jana@example.de"),
        (9, "e@example.de"),
        (10, "f@example.de"),
    ]
    assert rows[0].values == {
        "first_name": "Jana",
        "timezone": "Europe/Berlin",
        "custom": {"x": "1"},
    }
    assert [p.line for p in problems] == [3, 4, 5, 6, 7, 8]
    reasons = dict((p.line, p.reason) for p in problems)
    assert reasons[3].startswith("invalid address 'kein-at-zeichen'")
    assert reasons[4] == "no email address"
    assert reasons[5] == "duplicate address, first on line 2"
    assert reasons[6] == "first_name: 101 characters, at most 100"
    assert reasons[7] == "timezone: unknown time zone 'Mars/Olympus'"
    assert reasons[8] == "5 values but the header has 4 columns"
    assert all(isinstance(p, Problem) for p in problems)
