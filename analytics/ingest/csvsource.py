"""Reading a CSV file as a user's CRM wrote it: encoding, delimiter and header, before DuckDB parses the body.

DuckDB reads UTF-8 natively and fast; anything else (GB18030/GBK, UTF-16, Windows-1252) is transcoded once to a
temporary UTF-8 file. charset-normalizer decides between GB18030 and Windows-1252, which a strict decode alone
cannot: most Windows-1252 byte pairs are also valid GB18030.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from analytics.exceptions import InputError
from analytics.ingest.workbook import is_workbook, read_sheet
from analytics.messages import say

DELIMITERS = (",", ";", "\t")
# Control characters that no text field means to hold (tab, line feed and carriage return aside). Real exports carry
# them inside rich-text fields (a Salesforce Description with pasted HTML, a NUL from a copy-paste): removed, with a
# warning naming the cell, rather than calling the whole file binary.
_CONTROL_BYTES = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(14, 32)) + b"\x7f"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A share of control bytes above this (NUL among them), outside UTF-16, is a binary file's (random bytes: 12%), not
# stray characters in a text field.
BINARY_CONTROL_SHARE = 0.01
_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"%PDF", "PDF"))
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass
class CsvSource:
    """A CSV file ready for DuckDB: `utf8_path` is the file itself when it was UTF-8, else a transcoded copy."""

    path: Path
    name: str
    sha256: str
    encoding: str
    delimiter: str
    header: list[str]
    utf8_path: Path
    lines: int = 0  # lines in the file, the header's included
    row_offset: int = 0  # the header's row less 1: a workbook's table may start below a title
    sheet: str | None = None  # the sheet read, for a workbook
    # (spreadsheet row, header, value as kept) of each cell whose control characters or NUL bytes were removed
    cleaned: list[tuple[int, str, str]] = field(default_factory=list)
    _temporary: bool = field(default=False, repr=False)

    def cleanup(self) -> None:
        if self._temporary:
            self.utf8_path.unlink(missing_ok=True)

    def blank_rows(self) -> list[int]:
        """The spreadsheet rows (header = 1) that are empty lines. DuckDB skips them without counting them, so the
        importer needs them, when a file has more lines than records, to number the rows after them as a
        spreadsheet does. The csv module counts them; like DuckDB and a spreadsheet, it takes a line break inside
        a quoted value as part of the value (1 s for 1M rows, and only for such files)."""
        limit = csv.field_size_limit()
        csv.field_size_limit(1 << 30)  # DuckDB reads lines of up to 2 MB, and so must this count
        try:
            with open(self.utf8_path, encoding="utf-8-sig", errors="replace", newline="") as f:
                return [row for row, record in enumerate(csv.reader(f, delimiter=self.delimiter), start=1)
                        if not record]
        except csv.Error:
            return []  # quoting too broken to count: DuckDB reports those rows itself
        finally:
            csv.field_size_limit(limit)


def detect_encoding(data: bytes) -> str:
    """The file's encoding: a BOM wins; else UTF-8 if it decodes strictly; else GB18030 or Windows-1252."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise InputError(say("not_csv_kind", kind=kind))
    head = data[:65536]
    nuls = head.count(b"\x00")
    if nuls:
        # UTF-16 without a BOM: ASCII text puts a NUL in every other byte, all on the same side
        odd, even = head[1::2].count(b"\x00"), head[0::2].count(b"\x00")
        if len(head) >= 16 and odd > 0.3 * len(head) / 2 and even < 0.05 * odd:
            return "utf-16-le"
        if len(head) >= 16 and even > 0.3 * len(head) / 2 and odd < 0.05 * even:
            return "utf-16-be"
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
        first_line = head.split(b"\n", 1)[0]
        if (len(first_line.translate(None, _CONTROL_BYTES)) != len(first_line)  # a text file's header is clean
                or controls > max(16, BINARY_CONTROL_SHARE * len(head))):
            raise InputError(say("nul_bytes"))
        # else: a few stray NULs inside fields of a text file, removed by open_csv with a warning
    if _is_utf8(data):
        return "utf-8"
    candidates = []
    for encoding in ("gb18030", "cp1252"):
        try:
            data.decode(encoding)
            candidates.append(encoding)
        except UnicodeDecodeError:
            continue
    if not candidates:
        raise InputError(say("undecodable"))
    if len(candidates) == 1:
        return candidates[0]
    from charset_normalizer import (
        from_bytes,  # imported here: only non-UTF-8 files need it
    )

    best = from_bytes(data[:200_000], cp_isolation=candidates).best()
    if best is None:
        return candidates[0]
    return "gb18030" if best.encoding in ("gb18030", "gbk", "gb2312") else "cp1252"


def _is_utf8(data: bytes) -> bool:
    """A strict UTF-8 check that builds no 100 MB string: ASCII is checked at memory speed, the rest is decoded
    a megabyte at a time (the incremental decoder carries a character cut at a chunk's end into the next)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(view[start:start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def count_lines(content: bytes | str) -> int:
    """Lines in a file, the header's included: one count at memory speed (0.08 s for 128 MB)."""
    lf, cr = ("\n", "\r") if isinstance(content, str) else (b"\n", b"\r")
    breaks = content.count(lf) or content.count(cr)  # old Mac files end lines with CR alone
    return breaks + (0 if content.endswith((lf, cr)) else 1) if content else 0


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of `,` `;` and tab that splits the header into the most fields."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))


def open_csv(path: str | os.PathLike, display_name: str | None = None, sheet: str | None = None) -> CsvSource:
    """Decode, sniff and, if needed, transcode `path`; a workbook's sheet (`sheet`, else the first with data) is
    read as the CSV it would export. Raises InputError with a message naming the file."""
    path = Path(path)
    name = display_name or path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(say("file_not_found"), name) from None
    except OSError as exc:
        raise InputError(say("file_unreadable", detail=exc.strerror), name) from None
    if not data or data.isspace():  # (not data.strip(): that copies the whole file)
        raise InputError(say("file_empty"), name)
    sha = hashlib.sha256(data).hexdigest()
    if is_workbook(data):
        table = read_sheet(path, name, sheet)
        return _transcoded(path, name, sha, "xlsx", table.text, row_offset=table.header_row - 1, sheet=table.sheet,
                           delimiter=",")
    try:
        encoding = detect_encoding(data)
    except InputError as exc:
        raise InputError(exc.message, name) from None
    # (0.14 s for 128 MB: a translate, not a regex, which took 0.6 s)
    stray = encoding == "utf-8" and len(data.translate(None, _CONTROL_BYTES)) != len(data)
    if encoding == "utf-8" and not stray:
        # DuckDB reads the file itself: decode only the start, for the header (a cut character is dropped).
        text = data[:1 << 16].decode("utf-8", errors="ignore")
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InputError(say("undecodable_as", encoding=encoding.upper(), byte=exc.start), name) from None
    return _transcoded(path, name, sha, encoding, text, data=data if encoding == "utf-8" and not stray else None)


def _transcoded(path: Path, name: str, sha: str, encoding: str, text: str, *, data: bytes | None = None,
                row_offset: int = 0, sheet: str | None = None, delimiter: str | None = None) -> CsvSource:
    """The source for decoded `text`: `data` when DuckDB may read the file itself (UTF-8, nothing to remove)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first_line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    if not first_line.strip():
        raise InputError(say("first_line_empty"), name)
    try:
        delimiter = delimiter or sniff_delimiter(first_line)
        header = next(csv.reader(io.StringIO(text[: 1 << 16], newline=""), delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise InputError(say("header_unreadable", detail=str(exc)), name) from None
    if "\x00" in "".join(header):
        raise InputError(say("header_nul"), name)
    if data is not None:
        return CsvSource(path, name, sha, encoding, delimiter, header, path, count_lines(data))
    cleaned = []
    if _CONTROL.search(text):
        cleaned = _control_cells(text, delimiter, header)
        text = _CONTROL.sub("", text)
    lines = count_lines(text)
    # Transcode once; DuckDB then reads UTF-8. The BOM is dropped with the decode.
    fd, tmp = tempfile.mkstemp(prefix="keyfunnel-", suffix=".csv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    cleaned = [(row + row_offset, column, value) for row, column, value in cleaned]
    return CsvSource(path, name, sha, encoding, delimiter, header, Path(tmp), lines, row_offset, sheet, cleaned,
                     _temporary=True)


def _control_cells(text: str, delimiter: str, header: list[str]) -> list[tuple[int, str, str]]:
    """The cells holding control characters: (spreadsheet row, header, the value without them). Rows are counted
    as a spreadsheet and the importer count them (a quoted value's line breaks stay inside it)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    found = []
    try:
        for row, record in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            for i, value in enumerate(record):
                if _CONTROL.search(value):
                    column = header[i] if i < len(header) else f"column {i + 1}"
                    found.append((row, _CONTROL.sub("", column), _CONTROL.sub("", value)))
    except csv.Error:
        pass  # quoting too broken to locate the cells: the import reports those rows itself
    finally:
        csv.field_size_limit(limit)
    return found


def preview(source: CsvSource, rows: int = 20) -> tuple[list[str], list[list[str]]]:
    """The header and the first rows, for showing a user what was uploaded before it is imported."""
    out = []
    with open(source.utf8_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=source.delimiter)
        next(reader, None)
        for i, row in enumerate(reader):
            if i >= rows:
                break
            out.append(row)
    return source.header, out
