"""A nine-deal dataset whose every analysis figure is worked out by hand in the tests that use it.

D1 won, in order, with a stage-8 event.            D6 lost at 7 after stepping back 6→5 (re-enters 5 and 6).
D2 lost at 3.                                      D7 open at 7.
D3 open at 2.                                      D8 lost at 5; history starts at 4, four months after creation.
D4 lost at 1.                                      D9 lost at 2; first event is stage 2 on the day it was created.
D5 won, skipped stage 3, no stage-8 event (implicit at closed_at).
"""

from __future__ import annotations

from pathlib import Path

from analytics.ingest.canonical import import_files
from analytics.store.schema import DEAL_COLUMNS

#            deal  tier owner  region industry amount created      expected     closed       outcome reason
DEALS = [
    ["D1", "A", "Ann", "East", "Energy", 100, "2026-01-01", "2026-05-01", "2026-05-01", "won", ""],
    ["D2", "B", "Ann", "East", "Energy", 200, "2026-01-01", "2026-03-01", "2026-02-01", "lost", "price"],
    ["D3", "A", "Bob", "West", "Retail", 300, "2026-05-01", "2026-12-01", "", "open", ""],
    ["D4", "C", "Bob", "West", "Retail", 50, "2026-02-01", "2026-04-01", "2026-02-15", "lost", "timing"],
    ["D5", "B", "Ann", "West", "Energy", 400, "2026-01-01", "2026-05-01", "2026-04-20", "won", ""],
    ["D6", "A", "Bob", "East", "Retail", 500, "2026-01-01", "2026-04-01", "2026-03-20", "lost", "competitor"],
    ["D7", "B", "Ann", "East", "Energy", 600, "2026-01-01", "2026-07-15", "", "open", ""],
    ["D8", "D", "Bob", "West", "Energy", 700, "2025-10-01", "2026-04-01", "2026-03-15", "lost", "price"],
    ["D9", "C", "Ann", "East", "Retail", 80, "2026-01-01", "2026-02-01", "2026-01-20", "lost", "budget cut"],
]
HISTORY = [
    *[["D1", s, d] for s, d in zip(range(1, 9), ["2026-01-01", "2026-01-11", "2026-01-21", "2026-02-10",
                                                 "2026-03-01", "2026-03-21", "2026-04-10", "2026-05-01"])],
    ["D2", 1, "2026-01-01"], ["D2", 2, "2026-01-05"], ["D2", 3, "2026-01-20"],
    ["D3", 1, "2026-05-01"], ["D3", 2, "2026-06-01"],
    ["D4", 1, "2026-02-01"],
    *[["D5", s, d] for s, d in zip([1, 2, 4, 5, 6, 7], ["2026-01-01", "2026-01-10", "2026-02-01", "2026-03-01",
                                                       "2026-03-10", "2026-04-01"])],
    *[["D6", s, d] for s, d in zip([1, 2, 3, 4, 5, 6, 5, 6, 7],
                                   ["2026-01-01", "2026-01-08", "2026-01-15", "2026-01-22", "2026-02-01",
                                    "2026-02-10", "2026-02-15", "2026-02-20", "2026-03-01"])],
    *[["D7", s, d] for s, d in zip(range(1, 8), ["2026-01-01", "2026-01-15", "2026-02-01", "2026-02-15",
                                                 "2026-03-01", "2026-04-01", "2026-06-01"])],
    ["D8", 4, "2026-02-01"], ["D8", 5, "2026-03-01"],
    ["D9", 2, "2026-01-01"],
]
DEAL_HEADER = ["deal_id", "tier", "owner", "region", "industry", "amount", "created_at", "expected_close",
               "closed_at", "outcome", "lost_reason"]


def write_handworked(directory: Path) -> tuple[Path, Path]:
    from .conftest import write_csv

    header = DEAL_HEADER[:1] + ["account"] + DEAL_HEADER[1:]
    rows = [[r[0], f"Account {r[0]}", *r[1:]] for r in DEALS]
    assert set(header) <= set(DEAL_COLUMNS)
    return (write_csv(directory / "deals.csv", header, rows),
            write_csv(directory / "history.csv", ["deal_id", "stage", "entered_at"], HISTORY))


def load_handworked(store, directory: Path):
    deals, history = write_handworked(directory)
    result = import_files(store, deals, history)
    assert result.status == "imported", result.errors
    return result
