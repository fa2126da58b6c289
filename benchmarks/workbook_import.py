"""Importing a workbook against the CSV of the same rows (issue: Excel workbooks import directly).

    python benchmarks/workbook_import.py [--deals 50000] [--runs 3]

Writes the generator's deals as CSV and as .xlsx (xlsxwriter, dates as Excel dates), imports each into a fresh
database `--runs` times, and prints the medians and their ratio. Reading the workbook (python-calamine) and
writing it out as CSV text is the extra work; everything after is the same import.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from analytics.ingest.canonical import import_files
from analytics.sample import SampleParameters, write_sample
from analytics.store.connection import Store


def _xlsx(csv_path: Path, out: Path) -> Path:
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    for column in ("created_at", "expected_close", "closed_at"):
        frame[column] = pd.to_datetime(frame[column], errors="coerce")
    frame["amount"] = pd.to_numeric(frame["amount"])
    frame.to_excel(out, index=False, engine="xlsxwriter")
    return out


def _time(path: Path, folder: Path, run: int) -> float:
    store = Store(folder / f"{path.suffix[1:]}-{run}.duckdb")
    started = time.perf_counter()
    result = import_files(store, path)
    elapsed = time.perf_counter() - started
    assert result.status == "imported", result.errors[:3]
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_sample(folder, SampleParameters(deals=args.deals, seed=7, as_of="2026-11-30"))
        csv_path = folder / "deals.csv"
        xlsx_path = _xlsx(csv_path, folder / "deals.xlsx")
        csv_times, xlsx_times = [], []
        for run in range(args.runs):  # alternated, so that the machine's drift falls on both alike
            csv_times.append(_time(csv_path, folder, run))
            xlsx_times.append(_time(xlsx_path, folder, run))
        c, x = statistics.median(csv_times), statistics.median(xlsx_times)
        print(f"{args.deals:,} deals: CSV {c:.2f} s, xlsx {x:.2f} s (medians of {args.runs}); xlsx / CSV = {x / c:.2f}")


if __name__ == "__main__":
    main()
