"""A CSV file as marketers have them: Excel's semicolons or tabs, commas elsewhere; UTF-8 with
or without a byte-order mark, or Windows' cp1252. Encoding and delimiter are detected (either
may be given instead), records keep the line they start on for the report."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

DELIMITERS = ";,\t|"


# A cell far past any lead field's length (a pasted document, a log) is one bad row, which
# the mapping reports with its line; the csv module's default 128 KiB limit would abort the
# whole file instead. What is still over this limit can only be an unclosed quote.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no rows are reported for it)."""


@dataclass(frozen=True)
class CsvFile:
    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    text: str
    header_line: int  # 1, or 2 after Excel's "sep=;" line

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(the line a record starts on, its cells) for every record after the header; blank
        lines are skipped, quoted fields may span lines. ImportFileError for a record the csv
        module cannot read."""
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        next(reader)
        if self.header_line == 2:
            next(reader)
        end = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a value past the csv module's limit: an unclosed quote
                raise ImportFileError(
                    f"{self.path.name}, line {end + 1}: {exc} (a quote left open?)"
                ) from None
            start, end = end + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, cells


def detect_encoding(data: bytes) -> str:
    """The BOM's encoding, else UTF-8 if it decodes, else cp1252 if it decodes (what Excel
    writes in Western Europe: charset-normalizer names cp1250 or worse for a German file, whose
    umlauts it cannot tell apart), else charset-normalizer's guess, else latin-1 (which
    decodes anything). Any other encoding: ``--encoding``."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            data.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(data).best()
    # UTF-16 and -32 come with a BOM (above); a guess of them without one is a misreading.
    if best is not None and not best.encoding.startswith("utf"):
        return best.encoding
    return "latin-1"


def detect_delimiter(text: str) -> str:
    """The csv Sniffer's choice among ; , tab | on the first lines, if the header holds it;
    else the candidate the header holds most of; a single column: a comma."""
    first = text.split("\n", 1)[0]
    sample = "\n".join(text[:65536].splitlines()[:20])
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and sniffed in first:
        return sniffed
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, encoding: str | None = None, delimiter: str | None = None) -> CsvFile:
    """The file decoded and its header read; ImportFileError if it cannot be."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    encoding = encoding or detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ImportFileError(f"{path.name} is not {encoding}: {exc}") from None
    text = text.removeprefix("\ufeff")
    header_line = 1
    first = text.split("\n", 1)[0].strip()
    if first.lower().startswith("sep=") and len(first) == 5:  # Excel's delimiter hint
        delimiter = delimiter or first[4]
        header_line = 2
    if not text.strip():
        raise ImportFileError(f"{path.name} is empty")
    body = text.split("\n", 1)[1] if header_line == 2 else text
    delimiter = delimiter or detect_delimiter(body)
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise ImportFileError(f"{path.name}: the first line must name the columns")
    return CsvFile(path, encoding, delimiter, header, text, header_line)
