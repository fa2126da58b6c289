from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from analytics.store.connection import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "kf.duckdb")
    yield s
    s.close()


def write_csv(path: Path, header: list[str], rows: list[list], *, encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    """Write a CSV the way a user's tool would: given encoding and delimiter, CRLF line ends."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def csv_writer(tmp_path):
    def write(name: str, header, rows, **kw) -> Path:
        return write_csv(tmp_path / name, header, rows, **kw)
    return write
