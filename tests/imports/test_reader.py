"""Reading CSV files as marketers have them: the encoding and the delimiter detected, records
with the line they start on."""

from __future__ import annotations

import codecs

import pytest

from nurture.imports.mapping import build_map, check_records
from nurture.imports.reader import ImportFileError, detect_encoding, read_csv

GERMAN = "E-Mail;Vorname;Nachname;Firma\r\nj.mueller@example.de;Jürgen;Müller;Bäckerei Groß\r\n"


def test_excel_semicolons_in_cp1252_keep_their_umlauts(tmp_path):
    path = tmp_path / "messe.csv"
    path.write_bytes(GERMAN.encode("cp1252"))
    file = read_csv(path)
    assert (file.encoding, file.delimiter) == ("cp1252", ";")
    assert file.header == ["E-Mail", "Vorname", "Nachname", "Firma"]
    assert list(file.records()) == [
        (2, ["j.mueller@example.de", "Jürgen", "Müller", "Bäckerei Groß"])
    ]


def test_utf8_with_a_byte_order_mark_and_commas(tmp_path):
    path = tmp_path / "crm.csv"
    path.write_bytes(codecs.BOM_UTF8 + "Email,First Name\nzoë@example.de,Zoë\n".encode())
    file = read_csv(path)
    assert (file.encoding, file.delimiter) == ("utf-8-sig", ",")
    assert file.header == ["Email", "First Name"]  # no BOM glued to the first column's name
    assert [cells for _, cells in file.records()] == [["zoë@example.de", "Zoë"]]


def test_tabs_and_excel_s_separator_line(tmp_path):
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("email\tcompany\na@example.de\tPlanwerk, Nord\n", encoding="utf-8")
    assert read_csv(tabs).delimiter == "\t"
    hinted = tmp_path / "hinted.csv"
    hinted.write_text("sep=,\nemail;x,company\na@example.de;1,Planwerk\n", encoding="utf-8")
    file = read_csv(hinted)
    assert (file.delimiter, file.header) == (",", ["email;x", "company"])
    assert list(file.records()) == [(3, ["a@example.de;1", "Planwerk"])]


def test_records_keep_the_line_they_start_on(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        'email,note\n\na@example.de,"two\nlines"\n;\nb@example.de,x\n', encoding="utf-8"
    )
    file = read_csv(path, delimiter=",")
    assert [line for line, _ in file.records()] == [3, 5, 6]


def test_what_is_not_utf8_is_read_as_cp1252_if_it_can_be():
    assert detect_encoding("Straße;Weiß;Café;€".encode("cp1252")) == "cp1252"
    assert detect_encoding("Straße".encode()) == "utf-8"
    assert detect_encoding("a;b\n".encode("utf-16")) == "utf-16"
    assert detect_encoding(GERMAN.encode("cp1252") + b"\x81") != "cp1252"  # 0x81: unassigned


def test_another_encoding_can_be_named(tmp_path):
    path = tmp_path / "greek.csv"
    path.write_bytes("email;Όνομα\na@example.gr;Ελένη\n".encode("cp1253"))
    file = read_csv(path, encoding="cp1253")
    assert file.header == ["email", "Όνομα"]


def test_an_empty_file_or_a_wrong_encoding_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\r\n")
    with pytest.raises(ImportFileError, match="empty"):
        read_csv(empty)
    german = tmp_path / "german.csv"
    german.write_bytes(GERMAN.encode("cp1252"))
    with pytest.raises(ImportFileError, match="is not utf-8"):
        read_csv(german, encoding="utf-8")


def test_a_quote_left_open_swallows_the_rest_into_one_row_reported_with_its_line(tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('email,company\na@example.de,ok\nb@example.de,"' + "x" * 200_000, "utf-8")
    file = read_csv(path)
    rows, problems = check_records(file.records(), build_map(file.header, {}, False), 2)
    assert [r.line for r in rows] == [2]
    assert [p.line for p in problems] == [3] and problems[0].reason.startswith(
        "company: 200000 characters"
    ), problems


def test_a_huge_cell_is_one_bad_row_not_an_unreadable_file(tmp_path):
    """Past the csv module's default limit (128 KiB): the row is read, and the mapping's
    length checks report it with its line, as any too-long value."""
    path = tmp_path / "big.csv"
    path.write_text(f"email;company\na@example.de;{'x' * 200_000}\nb@example.de;B\n")
    records = list(read_csv(path).records())
    assert [(line, len(cells[1])) for line, cells in records] == [(2, 200_000), (3, 1)]
