"""Close dates and amounts as they changed (issue 18, part 1): kept from a stage history's optional columns, once
each, undone with their batch, and rejected by the same rules as any cell."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from analytics.i18n.issues import message_text
from analytics.ingest.batches import undo_batch
from analytics.ingest.canonical import import_files
from analytics.ingest.templates import history_template

DEALS = (["deal_id", "account", "outcome", "amount", "expected_close", "closed_at"],
         [["D1", "A", "open", "100", "2026-12-31", ""], ["D2", "B", "won", "50", "2026-10-01", "2026-10-03"]])
HISTORY = ["deal_id", "stage", "entered_at", "expected_close", "amount"]
ROWS = [["D1", "1", "2026-01-01", "2026-09-30", "80"],
        ["D1", "", "2026-03-01", "2026-12-31", ""],  # a change alone: the close pushed out
        ["D1", "2", "2026-04-01", "", "100"],  # a stage entry that also raises the amount
        ["D2", "1", "2026-02-01", "", ""]]


def _changes(store):
    return store.fetchall("SELECT deal_id, field, changed_at, expected_close, amount FROM deal_changes ORDER BY ALL")


def test_a_history_keeps_every_stated_close_date_and_amount(store, csv_writer):
    deals = csv_writer("deals.csv", *DEALS)
    r = import_files(store, deals, csv_writer("h.csv", HISTORY, ROWS))
    assert (r.status, r.deals_inserted, r.stage_events, r.field_changes) == ("imported", 2, 3, 4)
    assert r.message.endswith("3 stage events added, 4 close-date or amount changes added")
    assert message_text(r.outcome, "zh").endswith("新增 3 条阶段记录,新增 4 条预计成交日期或金额的变更")
    assert _changes(store) == [
        ("D1", "amount", datetime(2026, 1, 1), None, 80.0), ("D1", "amount", datetime(2026, 4, 1), None, 100.0),
        ("D1", "expected_close", datetime(2026, 1, 1), date(2026, 9, 30), None),
        ("D1", "expected_close", datetime(2026, 3, 1), date(2026, 12, 31), None)]
    # the row without a stage is no stage event; the deals keep their latest values
    assert store.scalar("SELECT count(*) FROM stage_events") == 3
    latest = store.fetchone("SELECT amount, expected_close FROM deals WHERE deal_id = 'D1'")
    assert latest == (100.0, date(2026, 12, 31))
    assert store.scalar("SELECT changes_added FROM import_batches") == 4


def test_reimport_later_export_and_undo(store, csv_writer):
    deals = csv_writer("deals.csv", *DEALS)
    first = import_files(store, deals, csv_writer("h.csv", HISTORY, ROWS))
    before = store.table_checksums()
    data = ("deals", "stage_events", "deal_changes", "deal_facts")
    data_before = store.table_checksums(data)
    again = import_files(store, deals, csv_writer("h.csv", HISTORY, ROWS))
    assert (again.status, store.table_checksums()) == ("unchanged", before)
    # a later export: the same rows and one more push of D1's close, with the deal's new close date
    later_deals = csv_writer("deals2.csv", DEALS[0], [["D1", "A", "open", "100", "2027-01-31", ""], DEALS[1][1]])
    later = import_files(store, later_deals,
                         csv_writer("h2.csv", HISTORY, [*ROWS, ["D1", "", "2026-11-20", "2027-01-31", ""]]))
    assert (later.status, later.stage_events, later.field_changes, later.deals_updated) == ("imported", 0, 1, 1)
    assert len(_changes(store)) == 5
    undo_batch(store, later.batch_id)
    assert store.table_checksums(data) == data_before  # exactly as before the later export
    assert store.scalar("SELECT expected_close FROM deals WHERE deal_id = 'D1'") == date(2026, 12, 31)
    undo_batch(store, first.batch_id)
    assert store.scalar("SELECT count(*) FROM deal_changes") == 0


def test_a_bad_change_is_rejected_with_its_cell(store, csv_writer):
    deals = csv_writer("deals.csv", *DEALS)
    rows = [*ROWS, ["D2", "", "2026-02-15", "soon", ""], ["D2", "", "2026-02-16", "", "-5"],
            ["D2", "", "2026-02-17", "", ""]]
    r = import_files(store, deals, csv_writer("h.csv", HISTORY, rows))
    assert r.status == "rejected" and store.scalar("SELECT count(*) FROM deal_changes") == 0
    assert [(e.file, e.row, e.column, e.value, e.reason) for e in r.errors] == [
        ("h.csv", 6, "expected_close", "soon", "not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日"),
        ("h.csv", 7, "amount", "-5", "amount must not be negative"),
        ("h.csv", 8, "stage", None, "required value missing")]  # neither a stage nor a change


def test_the_history_templates_import_as_written(store, tmp_path):
    for lang in ("en", "zh"):
        rows = list(csv.reader(io.StringIO(history_template(lang).decode("utf-8-sig"))))
        assert len(rows[0]) == 6 and ("预计成交日期" in rows[0] and "结果" in rows[0]) == (lang == "zh")
    (tmp_path / "d.csv").write_text("deal_id,account,outcome\nD-0001,A,open\nD-0002,B,open\n")
    (tmp_path / "h.csv").write_bytes(history_template("zh"))
    r = import_files(store, tmp_path / "d.csv", tmp_path / "h.csv")
    # D-0001: 3 stages, 2 close dates and 2 amounts; D-0002: 1 stage, a close date, an amount, lost, then open
    assert (r.status, r.stage_events, r.field_changes) == ("imported", 4, 8)
    assert store.fetchall("SELECT outcome, CAST(changed_at AS DATE) FROM deal_changes WHERE field = 'outcome' "
                          "ORDER BY changed_at") == [("lost", date(2026, 3, 10)), ("open", date(2026, 5, 4))]


def test_generated_close_dates_slip_at_the_rates_in_truth(store, tmp_path):
    """The generator pushes a deal's close with P = push_probability(how it ends, its owner); every push of a closed
    deal happens before it closed, so the share of won (and of lost) deals pushed at least once estimates the mean
    of those probabilities over the deals, within sampling error (4 standard errors)."""
    from analytics.sample import SampleParameters, push_probability, write_sample

    truth = write_sample(tmp_path / "s", SampleParameters(deals=4000, seed=11, as_of="2026-11-27"))
    r = import_files(store, tmp_path / "s" / "deals.csv", tmp_path / "s" / "stage_history.csv")
    assert r.field_changes == truth["counts"]["deal_changes"]
    assert r.stage_events == truth["counts"]["stage_events"]
    rows = store.fetchall("""
        SELECT d.outcome, CAST(split_part(d.owner, ' ', 2) AS INTEGER) - 1,
               count(c.deal_id) FILTER (WHERE c.field = 'expected_close') > 1
        FROM deals d LEFT JOIN deal_changes c USING (deal_id) WHERE d.outcome <> 'open'
        GROUP BY d.deal_id, d.outcome, d.owner""")
    for fate in ("won", "lost"):
        mine = [(owner, pushed) for outcome, owner, pushed in rows if outcome == fate]
        expected = sum(push_probability(fate, owner) for owner, _ in mine) / len(mine)
        observed = sum(pushed for _, pushed in mine) / len(mine)
        assert abs(observed - expected) < 4 * (expected * (1 - expected) / len(mine)) ** 0.5, (fate, observed, expected)
    lost_share = sum(p for o, _, p in rows if o == "lost") / sum(o == "lost" for o, _, _ in rows)
    won_share = sum(p for o, _, p in rows if o == "won") / sum(o == "won" for o, _, _ in rows)
    assert lost_share > won_share  # deals that end lost slip more often


def test_salesforce_history_rows_keep_their_close_date_and_amount_changes(store, tmp_path):
    """OpportunityHistory as Salesforce exports it (PrevCloseDate and PrevAmount included): each row's CloseDate and
    Amount hold from its CreatedDate on; kept where they changed. Worked by hand from tests/crm_exports.salesforce:
    006A amount 90,000 then 100,000, close 2025-04-30 then 2025-03-20 (signed early); 006B close 2025-05-30, pushed
    to 2025-06-15, then 2025-02-28 (lost), amount 50,000; 006C amount 80,000, 85,000, back to 80,000, close 2025-06-30;
    006D amount 20,000 then 25,000, close 2025-07-31: 15 changes."""
    from analytics.ingest.crm.load import import_export, read_export

    from . import crm_exports
    from .conftest import write_csv

    opp, hist = crm_exports.salesforce(tmp_path)
    rows = list(csv.reader(hist.open(encoding="utf-8")))
    header, body = rows[0], rows[1:]
    prev = {}
    with_prev = []
    for r in body:  # PrevAmount and PrevCloseDate: the deal's row before, as Salesforce fills them
        before = prev.get(r[0], ["", ""])
        with_prev.append([*r, before[0], before[1]])
        prev[r[0]] = [r[2], r[3]]
    hist = write_csv(tmp_path / "OpportunityHistory.csv", [*header, "PrevAmount", "PrevCloseDate"], with_prev)
    tables, read_errors = read_export([opp, hist])
    r = import_export(store, tables, read_errors)
    assert (r.status, r.field_changes) == ("imported", 15), r.message
    got = store.fetchall("SELECT deal_id, field, CAST(changed_at AS DATE), coalesce(CAST(expected_close AS VARCHAR), "
                         "CAST(amount AS VARCHAR)) FROM deal_changes ORDER BY deal_id, field, changed_at")
    assert [g for g in got if g[0] == "006B"] == [
        ("006B", "amount", date(2025, 1, 10), "50000.0"),
        ("006B", "expected_close", date(2025, 1, 10), "2025-05-30"),
        ("006B", "expected_close", date(2025, 2, 12), "2025-06-15"),
        ("006B", "expected_close", date(2025, 2, 28), "2025-02-28")]
    assert [g[3] for g in got if g[0] == "006C" and g[1] == "amount"] == ["80000.0", "85000.0", "80000.0"]
    assert import_export(store, *read_export([opp, hist])).status == "unchanged"
