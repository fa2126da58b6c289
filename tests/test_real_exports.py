"""Files shaped as real CRMs and people write them: blank amounts, missing columns, stray NUL bytes.

Every file here is written by the test itself, in the layout the vendor's export uses; no customer data.
"""

from __future__ import annotations

import csv
import io

import pytest

from analytics.filters import DealFilter
from analytics.funnel import compute_funnel
from analytics.importer import CONTROL_REMOVED, import_files
from analytics.overview import pipeline_summary

from .conftest import write_csv
from .handworked import DEAL_HEADER, DEALS, HISTORY

EARLY = {"D2", "D3", "D4", "D9"}  # the hand-worked deals whose furthest stage is 1–3


def _handworked(tmp_path, *, blank_early_amounts: bool):
    header = DEAL_HEADER[:1] + ["account"] + DEAL_HEADER[1:]
    amount = DEAL_HEADER.index("amount") + 1
    rows = []
    for r in DEALS:
        row = [r[0], f"Account {r[0]}", *r[1:]]
        if blank_early_amounts and r[0] in EARLY:
            row[amount] = ""
        rows.append(row)
    suffix = "blank" if blank_early_amounts else "full"
    return (write_csv(tmp_path / f"deals-{suffix}.csv", header, rows),
            write_csv(tmp_path / f"history-{suffix}.csv", ["deal_id", "stage", "entered_at"], HISTORY))


def test_a_funnel_whose_early_deals_lack_amounts_converts_as_the_same_deals_with_amounts(tmp_path):
    from analytics.store import Store

    full, blank = Store(tmp_path / "full.duckdb"), Store(tmp_path / "blank.duckdb")
    assert import_files(full, *_handworked(tmp_path, blank_early_amounts=False)).status == "imported"
    r = import_files(blank, *_handworked(tmp_path, blank_early_amounts=True))
    assert r.status == "imported" and r.errors == []
    # one warning for the file, counting the deals: not a rejection, not one warning per row
    assert [(w.row, w.column, w.reason.split(":")[0]) for w in r.warnings
            if w.reason.startswith("amount missing")] == [(None, "amount", "amount missing for 4 of 9 deals")]
    assert blank.fetchall("SELECT deal_id FROM deals WHERE amount IS NULL ORDER BY 1") == [
        ("D2",), ("D3",), ("D4",), ("D9",)]  # NULL, never 0
    f_full, f_blank = compute_funnel(full), compute_funnel(blank)
    for a, b in zip(f_full.stages, f_blank.stages):
        assert (a.reached, a.advanced, a.lost_here, a.open_here) == (b.reached, b.advanced, b.lost_here, b.open_here)
        assert (a.conversion, a.conversion_ci, a.win_rate, a.win_rate_ci) == (
            b.conversion, b.conversion_ci, b.win_rate, b.win_rate_ci)
    # Stage 1: all nine reached it; D1 100 + D5 400 + D6 500 + D7 600 + D8 700 have amounts, D2/3/4/9 have none
    assert (f_blank.stage(1).amount, f_blank.stage(1).amount_known, f_blank.stage(1).reached) == (2300, 5, 9)
    assert (f_full.stage(1).amount, f_full.stage(1).amount_known) == (2930, 9)
    # Stage 4: D1, D5, D6, D7 and D8 (first seen there) reached it, every one with an amount
    assert (f_blank.stage(4).amount, f_blank.stage(4).amount_known, f_blank.stage(4).reached) == (2300, 5, 5)
    # The open pipeline: D3 (no amount) and D7 (600)
    summary = pipeline_summary(blank)
    assert (summary.open_deals, summary.open_amount, summary.open_amount_known) == (2, 600, 1)
    full.close()
    blank.close()


def test_no_account_and_no_creation_date_columns(store, csv_writer):
    """A deal without a creation date is dated by its first stage event; with none, it stays undated: out of
    cohorts, created-date filters and cycle time, never dated today."""
    deals = csv_writer("d.csv", ["deal_id", "amount", "closed_at", "outcome"], [
        ["N1", "100", "2026-03-01", "won"],
        ["N2", "", "2026-02-10", "lost"],
        ["N3", "50", "", "open"],
    ])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [
        ["N1", "1", "2026-01-05"], ["N1", "7", "2026-02-01"], ["N1", "8", "2026-03-01"], ["N2", "2", "2026-01-20"]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    missing = sorted((w.column, w.reason.split(":")[0]) for w in r.warnings if "missing for" in w.reason)
    assert missing == [("account", "account missing for 3 of 3 deals"), ("amount", "amount missing for 1 of 3 deals"),
                       ("created_at", "created_at missing for 3 of 3 deals")]
    facts = {d: (str(c) if c else None, k, cycle) for d, c, k, cycle in store.fetchall(
        "SELECT deal_id, created_at, created_known, cycle_days FROM deal_facts")}
    assert facts == {"N1": ("2026-01-05", False, 55),   # Jan 5 → Mar 1
                     "N2": ("2026-01-20", False, 21),   # Jan 20 → Feb 10
                     "N3": (None, False, None)}         # no event: unknown
    assert store.scalar("SELECT count(*) FROM deals WHERE created_at IS NOT NULL") == 0  # stored as given
    cohort = compute_funnel(store, DealFilter(cohort="2026Q1"))
    assert cohort.deals == 2  # N1 and N2 by their first events; N3 has no date to fall in a cohort by
    assert compute_funnel(store).deals == 3


def test_a_closed_before_created_deal_has_no_cycle_time(store, csv_writer):
    deals = csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], [
        ["C1", "2026-03-01", "2026-01-01", "lost"], ["C2", "2026-01-01", "2026-01-31", "lost"]])
    r = import_files(store, deals)
    assert [(w.row, w.reason) for w in r.warnings if "closed before" in w.reason] == [
        (2, "closed before it was created")]
    assert store.fetchall("SELECT deal_id, cycle_days FROM deal_facts ORDER BY 1") == [("C1", None), ("C2", 30)]


DESCRIPTION_HEADER = ["deal_id", "account", "amount", "created_at", "outcome", "Description"]


def _with_stray_nul(encoding: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(DESCRIPTION_HEADER)
    w.writerow(["S1", "Café Müller", "100", "2026-01-01", "open", "plain"])
    w.writerow(["S2", "Bolt", "200", "2026-01-02", "open", "<p>pasted\x00 from Word</p>\x0b"])
    w.writerow(["S3", "Crème", "300", "2026-01-03", "won", "ok"])
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_stray_nul_bytes_inside_a_field_are_removed_with_a_warning(store, tmp_path, encoding):
    path = tmp_path / "opps.csv"
    path.write_bytes(_with_stray_nul(encoding))
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert [(w.file, w.row, w.column, w.value, w.reason) for w in r.warnings if w.reason == CONTROL_REMOVED] == [
        ("opps.csv", 3, "Description", "<p>pasted from Word</p>", CONTROL_REMOVED)]
    assert store.scalar("SELECT extra->>'Description' FROM deals WHERE deal_id = 'S2'") == "<p>pasted from Word</p>"
    assert store.scalar("SELECT account FROM deals WHERE deal_id = 'S1'") == "Café Müller"  # still cp1252-decoded


def test_a_binary_file_is_still_called_binary(store, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"deal_id,outcome\n" + bytes(range(256)) * 40)
    r = import_files(store, path)
    assert r.status == "rejected" and "NUL bytes" in r.errors[0].reason
    (tmp_path / "logo.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    r = import_files(store, tmp_path / "logo.csv")
    assert [e.reason for e in r.errors] == ["a PNG image, not a CSV file"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(store, tmp_path, codec):
    path = tmp_path / "u.csv"
    path.write_bytes("deal_id,account,amount,created_at,outcome\r\nU1,华东电力,10,2026-01-01,open\r\n".encode(codec))
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert store.scalar("SELECT account FROM deals") == "华东电力"
