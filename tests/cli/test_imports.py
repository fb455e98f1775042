"""`nurture leads import` as a marketer runs it: an Excel file, the report, the summary."""

from __future__ import annotations

from tests.cli.conftest import nurture

FAIR = (
    "E-Mail;Vorname;Nachname;Firma;Messe-Stand\r\n"
    "j.mueller@example.de;Jürgen;Müller;Bäckerei Groß;Halle 3\r\n"
    "kein-at-zeichen;A;B;C;\r\n"
    "s.weiss@example.de;Sören;Weiß;Straßenbau Nord;\r\n"
)
BASIS = "Messe-Kontaktformular 2026, Einwilligung schriftlich"


def test_an_excel_file_is_imported_with_its_bad_rows_reported(cli_env, tmp_path):
    path = tmp_path / "Messe 2026.csv"
    path.write_bytes(FAIR.encode("cp1252"))
    args = ["leads", "import", str(path), "--consent-basis", BASIS, "--enrol", "b2b-nurture"]
    dry = nurture(*args, "--dry-run", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing written: 3 rows: 2 created" in dry.stdout
    done = nurture(*args, "--map", "Messe-Stand=custom.stand", env=cli_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Messe 2026.csv: cp1252, delimiter ';'" in out
    assert "Messe-Stand -> custom.stand" in out
    assert "line 3: invalid address 'kein-at-zeichen'" in out
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 skipped" in out
    assert "consent recorded for 2 leads (import:Messe-2026)" in out
    assert "enrolled in b2b-nurture: 2" in out
    shown = nurture("leads", "show", "j.mueller@example.de", env=cli_env).stdout
    assert "Jürgen Müller, Bäckerei Groß" in shown and "'stand': 'Halle 3'" in shown
    again = nurture(*args, "--map", "Messe-Stand=custom.stand", env=cli_env)
    assert "3 rows: 0 created, 0 updated, 2 unchanged, 1 skipped" in again.stdout
    assert "enrolled in b2b-nurture: 0" in again.stdout


def test_unknown_columns_are_reported_and_without_a_basis_no_one_is_enrolled(cli_env, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text("email\tNotizen\na@example.de\tVIP, Halle 3\n", encoding="utf-8-sig")
    args = ["leads", "import", str(path), "--enrol", "b2b-nurture", "--delimiter", "tab"]
    done = nurture(*args, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "ignored columns (map them with --map or --keep-unknown): Notizen" in done.stdout
    assert "crm.csv: utf-8-sig, delimiter tab" in done.stdout
    assert "not enrolled, no consent basis: 1" in done.stdout


def test_options_that_contradict_each_other_are_refused(cli_env, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Name\nMax\n", encoding="utf-8")
    cases = [
        (["--confirm", "leitfaden"], "--confirm needs --enrol"),
        (["--enrol", "nope"], "no sequence 'nope'"),
        (["--enrol", "b2b-nurture", "--confirm", "leitfaden", "--consent-basis", "x"], "or"),
        (["--source", "a b"], "--source"),
        ([], "no column holds the email address"),
        (["--map", "Fax=email"], "no column 'Fax'"),
        (["--delimiter", ";;"], "--delimiter: one character"),
    ]
    for extra, message in cases:
        done = nurture("leads", "import", str(path), *extra, env=cli_env)
        assert done.returncode == 1 and message in done.stderr, (extra, done.stderr)
