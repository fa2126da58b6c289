"""Encoding detection at the edges the importer's tests do not reach: megabyte chunk boundaries and blank files."""

import pytest

from analytics.exceptions import InputError
from analytics.ingest.csvsource import detect_encoding, open_csv

MB = 1 << 20


def test_a_character_cut_by_a_chunk_boundary_is_still_utf8():
    prefix = b"a" * (MB - 1)  # 电 (3 bytes) starts one byte before the first megabyte ends
    data = prefix + "电力,华东\n".encode() * 3
    assert data[MB - 1:MB + 2].decode("utf-8") == "电"
    assert detect_encoding(data) == "utf-8"


def test_an_invalid_byte_past_the_first_megabyte_is_not_utf8():
    data = ("客户,金额\n" * 200_000).encode("utf-8")  # 2.4 MB of valid UTF-8 …
    assert len(data) > 2 * MB
    assert detect_encoding(data + "南方电网\n".encode("gb18030")) == "gb18030"  # … then one GB18030 line
    assert detect_encoding(data) == "utf-8"


def test_a_truncated_last_character_is_not_utf8():
    data = ("客户,金额\n" * 10).encode("utf-8") + "电".encode("utf-8")[:2]
    assert detect_encoding(data) != "utf-8"


@pytest.mark.parametrize("content", [b"", b" \r\n\t \n"])
def test_blank_files_are_empty(tmp_path, content):
    path = tmp_path / "blank.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="blank.csv: the file is empty"):
        open_csv(path)


@pytest.mark.parametrize("content, lines, blank", [
    ("a,b\n1,2\n\n3,4\n", 4, [3]),
    ("a,b\r\n1,2\r\n\r\n3,4", 4, [3]),
    ("a,b\r\r1,2\r", 3, [2]),                          # old Mac line ends
    ("a,b\n\n\n1,2\n", 4, [2, 3]),
    ('a,b\n1,"x\n\ny"\n\n3,4\n', 6, [3]),            # a quoted value's line breaks are the value's, not rows
    ("a,b\n1,2\n3,4\n", 3, []),
])
def test_lines_and_empty_rows_are_counted_as_a_spreadsheet_numbers_rows(tmp_path, content, lines, blank):
    path = tmp_path / "d.csv"
    path.write_bytes(content.encode())
    source = open_csv(path)
    assert (source.lines, source.blank_rows()) == (lines, blank)
    path.write_bytes(content.encode("gb18030") + "，".encode("gb18030"))  # not UTF-8: read from a transcoded copy
    source = open_csv(path)
    assert source.blank_rows() == blank
    source.cleanup()
