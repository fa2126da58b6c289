from datetime import date, datetime

import pytest

from analytics.exceptions import UndoError
from analytics.ingest.batches import list_batches, undo_batch
from analytics.ingest.canonical import import_files

from .handworked import load_handworked, write_handworked

HEADER = ["deal_id", "account", "tier", "amount", "created_at", "closed_at", "outcome"]
HEADER_ZH = ["商机编号", "客户", "客户级别", "金额", "创建日期", "关闭日期", "结果"]


def deals_of(store):
    return {r[0]: r[1:] for r in store.fetchall(
        "SELECT deal_id, account, tier, amount, created_at, closed_at, outcome FROM deals ORDER BY deal_id")}


# Encodings and delimiters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_chinese_headers_in_every_encoding(store, csv_writer, encoding):
    path = csv_writer("d.csv", HEADER_ZH, [["商机-1", "华东电力集团", "A", "1,234.50", "2026-06-09", "", "进行中"],
                                           ["商机-2", "南方电网", "B", "￥2,000", "2026/6/9", "2026年7月1日", "赢单"]],
                      encoding=encoding)
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert deals_of(store) == {
        "商机-1": ("华东电力集团", "A", 1234.5, date(2026, 6, 9), None, "open"),
        "商机-2": ("南方电网", "B", 2000.0, date(2026, 6, 9), date(2026, 7, 1), "won"),
    }


def test_windows_1252(store, csv_writer):
    path = csv_writer("d.csv", HEADER, [["F-1", "Société Générale", "A", "100", "2026-01-02", "", "open"],
                                        ["F-2", "Müller & Söhne", "B", "€200", "2026-01-03", "", "OPEN"]],
                      encoding="cp1252")
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert {k: v[0] for k, v in deals_of(store).items()} == {"F-1": "Société Générale", "F-2": "Müller & Söhne"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters(store, csv_writer, delimiter):
    path = csv_writer("d.csv", HEADER, [["X1", "Acme; Ltd, Inc", "C", "5", "2026-01-01", "", "open"]],
                      delimiter=delimiter)
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert deals_of(store)["X1"][0] == "Acme; Ltd, Inc"


def test_labels_written_exactly_or_loosely_read_the_same(store, csv_writer):
    """Canonical labels take a fast path; padded, cased, suffixed and named ones are normalised."""
    header = [*HEADER, "funding"]
    deals = csv_writer("d.csv", header, [
        ["L1", "Acme", "A", "1", "2026-01-01", "2026-02-01", "won", "4"],
        ["L2", "Acme", " b ", "1", "2026-01-01", "2026-02-01", " Won ", " 4 "],
        ["L3", "Acme", "C级", "1", "2026-01-01", "2026-02-01", "closed  lost", "1"],
        ["L4", "Acme", "d-tier", "1", "2026-01-01", "", "进行中", ""],
        # a tab, a full-width space (U+3000) and a no-break space (U+00A0) are white space too (they were not)
        ["L5", "Acme", "A\t", "1", "2026-01-01", "2026-02-01", "won\t", "4\u3000"],
        ["L6", "Acme", "A级\u3000", "1", "2026-01-01", "2026-02-01", "\u3000赢单", "4"],
        ["L7", "Acme", "A", "1", "2026-01-01", "2026-02-01", "closed\u00a0lost", "4"],
    ])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [
        ["L1", "3", "2026-01-01"], ["L2", " 3 ", "2026-01-01"], ["L3", "Proposal", "2026-01-01"],
        ["L4", "提交初步方案", "2026-01-01"], ["L5", "提交初步方案\u3000", "2026-01-01"], ["L6", "3\t", "2026-01-01"],
        ["L7", "3", "2026-01-01"]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT d.deal_id, tier, outcome, funding, stage FROM deals d "
                          "JOIN stage_events USING (deal_id) ORDER BY 1") == [
        ("L1", "A", "won", 4, 3), ("L2", "B", "won", 4, 3), ("L3", "C", "lost", 1, 3), ("L4", "D", "open", None, 3),
        ("L5", "A", "won", 4, 3), ("L6", "A", "won", 4, 3), ("L7", "A", "lost", 4, 3)]


def test_history_truncated_is_optional_per_row(store, csv_writer):
    """An empty cell was 'must be true or false', though the column is optional: it is false."""
    path = csv_writer("d.csv", [*HEADER, "history_truncated"], [
        ["T1", "Acme", "A", "1", "2026-01-01", "", "open", ""],
        ["T2", "Acme", "A", "1", "2026-01-01", "", "open", "TRUE "],
        ["T3", "Acme", "A", "1", "2026-01-01", "", "open", "no"]])
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, history_truncated FROM deals ORDER BY 1") == [
        ("T1", False), ("T2", True), ("T3", False)]


def test_text_loses_white_space_of_any_kind_at_its_ends(store, csv_writer):
    """A tab or a full-width space (U+3000) after an id made it another deal than the same id in the history;
    a name of only a full-width space was kept as a name."""
    deals = csv_writer("d.csv", HEADER, [
        ["W1\t", "\u3000华东电力\u3000", "A", "1", "2026-01-01", "", "open"],
        ["W2", "Acme\u00a0 Corp", "A", "1", "2026-01-01", "", "open"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [["W1", "1", "2026-01-01"]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, account FROM deals ORDER BY 1") == [("W1", "华东电力"), ("W2", "Acme\u00a0 Corp")]
    assert store.scalar("SELECT count(*) FROM stage_events WHERE deal_id = 'W1'") == 1
    blank = csv_writer("b.csv", HEADER, [["W3", "\u3000", "A", "1", "2026-01-01", "", "open"]])
    r = import_files(store, blank)  # a blank account is no account (optional: the deal stands alone)
    assert r.status == "imported" and r.errors == []
    assert store.scalar("SELECT account FROM deals WHERE deal_id = 'W3'") is None
    assert [(w.row, w.column, w.reason.split(":")[0]) for w in r.warnings] == [
        (None, "account", "account missing for 1 of 1 deal")]


@pytest.mark.parametrize("text,expected", [
    ("2026-06-09", datetime(2026, 6, 9)), ("2026/6/9", datetime(2026, 6, 9)),
    ("2026-6-9 11:00:27", datetime(2026, 6, 9, 11, 0, 27)), ("2026年6月9日", datetime(2026, 6, 9)),
    ("2026.6.9", datetime(2026, 6, 9)), ("2026年6月9日 11:00:27", datetime(2026, 6, 9, 11, 0, 27)),
    # fractions of a second, as some exports write them (they were "not a date")
    ("2026-06-09 11:00:27.123", datetime(2026, 6, 9, 11, 0, 27, 123000)),
    ("2026/6/9 11:00:27.5", datetime(2026, 6, 9, 11, 0, 27, 500000)),
    ("\t2026/6/9\u3000", datetime(2026, 6, 9)),  # a tab, a full-width space: white space too
])
def test_date_forms(store, csv_writer, text, expected):
    deals = csv_writer("d.csv", HEADER, [["X1", "Acme", "C", "5", text, "", "open"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [["X1", "1", text]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    assert store.fetchone("SELECT created_at FROM deals")[0] == expected.date()
    assert store.fetchone("SELECT entered_at FROM stage_events")[0] == expected


@pytest.mark.parametrize("text,decimal_comma,expected", [
    ("1,234.50", False, 1234.5), ("¥1,234", False, 1234.0), ("$ 99.9", False, 99.9), ("1234", False, 1234.0),
    ("1.234,50", True, 1234.5), ("1 234,5", True, 1234.5), ("12,5", True, 12.5),
    # with a decimal comma declared, a dot groups thousands: 1.234 is 1234 (it was read as 1.234)
    ("1.234", True, 1234.0), ("¥1.234", True, 1234.0), ("1234", True, 1234.0),
    ("\t¥1,234\u3000", False, 1234.0),
])
def test_amount_forms(store, csv_writer, text, decimal_comma, expected):
    path = csv_writer("d.csv", HEADER, [["X1", "Acme", "C", text, "2026-01-01", "", "open"]])
    r = import_files(store, path, decimal_comma=decimal_comma)
    assert r.status == "imported", r.errors
    assert store.scalar("SELECT amount FROM deals") == pytest.approx(expected)


def test_with_a_decimal_comma_a_decimal_point_is_not_an_amount(store, csv_writer):
    path = csv_writer("d.csv", HEADER, [["X1", "Acme", "C", "0.5", "2026-01-01", "", "open"]])
    r = import_files(store, path, decimal_comma=True)
    assert [(e.row, e.column, e.value) for e in r.errors] == [(2, "amount", "0.5")]


def test_decimal_comma_must_be_declared(store, csv_writer):
    path = csv_writer("d.csv", HEADER, [["X1", "Acme", "C", "1.234,50", "2026-01-01", "", "open"]])
    r = import_files(store, path)
    assert r.status == "rejected"
    assert [(e.row, e.column, e.value) for e in r.errors] == [(2, "amount", "1.234,50")]
    assert "decimal comma" in r.errors[0].reason


@pytest.mark.parametrize("stage", ["3", "proposal", "Preliminary proposal", "提交初步方案", " PRELIMINARY  Proposal "])
def test_stage_values(store, csv_writer, stage):
    deals = csv_writer("d.csv", HEADER, [["X1", "Acme", "C", "5", "2026-01-01", "", "open"]])
    history = csv_writer("h.csv", ["商机编号", "阶段", "进入日期"], [["X1", stage, "2026-01-02"]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    assert store.scalar("SELECT stage FROM stage_events") == 3


# Rejection: every problem reported, nothing written ------------------------------------------------------------
def test_invalid_rows_are_all_reported_and_nothing_is_written(store, csv_writer, tmp_path):
    load_handworked(store, tmp_path)
    before = store.table_checksums()
    path = csv_writer("bad.csv", HEADER, [
        ["N1", "Good one", "A", "10", "2026-01-01", "", "open"],                 # row 2
        ["N2", "Multi\nline name", "Z", "10", "2026-01-01", "", "open"],       # row 3: bad tier
        ["", "No id", "A", "abc", "yesterday", "", "maybe"],                    # row 4: four problems
        ["N4", "Neg", "A", "-5", "0001-01-01", "", "lost"],                     # row 5: two problems
        ["N5", "Extra", "A", "1", "2026-01-01", "", "open", "surplus"],         # row 6: too many columns
    ])
    r = import_files(store, path)
    assert r.status == "rejected" and r.batch_id is None
    got = {(e.row, e.column, e.value) for e in r.errors}
    assert got == {
        (3, "tier", "Z"),
        (4, "deal_id", None), (4, "amount", "abc"), (4, "created_at", "yesterday"), (4, "outcome", "maybe"),
        (5, "amount", "-5"), (5, "created_at", "0001-01-01"),
        (6, None, "N5,Extra,A,1,2026-01-01,,open,surplus"),
    }
    assert all(e.file == "bad.csv" and e.reason for e in r.errors)
    assert r.rejected_rows == 4
    assert store.table_checksums() == before


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16"])
def test_rows_are_numbered_as_a_spreadsheet_shows_them_across_empty_lines(store, tmp_path, newline, encoding):
    """DuckDB skips empty lines without counting them; a spreadsheet shows each as a row. Row numbers after one
    were one too low (a file with an empty line 3 reported its 'lots' on row 4 as row 3)."""
    lines = ["deal_id,account,amount,created_at,outcome",      # row 1
             "X1,Acme,100,2026-01-01,won",                     # 2
             "",                                               # 3: empty
             "X2,Beta,lots,2026-01-01,open",                   # 4: not an amount
             "",                                               # 5: empty
             "",                                               # 6: empty
             "X3,Cobalt,5",                                    # 7: too few columns
             'X4,"客户\n\nline",lots,2026-01-01,open',         # 8: one row, over three lines
             "X5,Echo,1,yesterday,open",                       # 9: not a date
             "", ""]                                           # at the end: no row's number changes
    path = tmp_path / "d.csv"
    path.write_bytes(newline.join(lines).replace("\n\n", newline * 2).encode(encoding))
    r = import_files(store, path)
    assert r.status == "rejected"
    assert [(e.row, e.column) for e in r.errors] == [(7, None), (4, "amount"), (8, "amount"), (9, "created_at")]

    history = tmp_path / "h.csv"
    history.write_bytes(newline.join(["deal_id,stage,entered_at", "X1,1,2026-01-01", "", "X1,9,2026-01-02",
                                      "X1,2,2026-01-03"]).encode(encoding))
    deals = tmp_path / "ok.csv"
    deals.write_bytes(newline.join(lines[:2]).encode(encoding))
    r = import_files(store, deals, history)
    assert [(e.file, e.row, e.column, e.value) for e in r.errors] == [("h.csv", 4, "stage", "9")]


def test_rows_of_empty_cells_are_blank_rows_as_empty_lines_are(store, tmp_path):
    """Excel exports rows of ",,,," where cells were once formatted. Each was five errors ("required value
    missing") and rejected the file; a line of spaces was "too few columns". Both are blank rows now: skipped, as
    an empty line is, and the rows after them keep the numbers a spreadsheet shows."""
    lines = ["deal_id,account,amount,created_at,outcome",      # row 1
             "X1,Acme,100,2026-01-01,won",                     # 2
             ",,,,",                                           # 3: blank
             " , ,\u3000,\t,",                                  # 4: white space only (a full-width space too)
             "   ",                                            # 5: a line of spaces (DuckDB: too few columns)
             ",,",                                             # 6: too few columns, but nothing in them
             "X2,Beta,lots,2026-01-01,open",                   # 7: not an amount
             ",Gamma,,,",                                      # 8: not blank: its id and outcome are missing
             ",,,,", ",,,,"]                                   # 9, 10: Excel's trailing rows
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = import_files(store, path)
    assert [(e.row, e.column) for e in r.errors] == [(7, "amount"), (8, "deal_id"), (8, "outcome")]
    path.write_text("\n".join(lines[:7] + lines[9:]).replace("lots", "5") + "\n", encoding="utf-8")
    history = tmp_path / "h.csv"
    history.write_text("deal_id,stage,entered_at\nX1,1,2026-01-01\n,,\n \t, ,\nX2,1,2026-01-01\n,,\n")
    r = import_files(store, path, history)
    assert r.status == "imported" and not r.errors and (r.deals_inserted, r.stage_events) == (2, 2)


def test_skip_invalid_lands_the_valid_rows_and_keeps_the_rest(store, csv_writer):
    path = csv_writer("d.csv", HEADER, [["OK1", "Acme", "A", "10", "2026-01-01", "", "open"],
                                        ["BAD", "Acme", "A", "ten", "2026-01-01", "", "open"]])
    r = import_files(store, path, skip_invalid=True)
    assert r.status == "imported" and r.deals_inserted == 1 and r.rejected_rows == 1
    assert store.fetchall('SELECT batch_id, file, "row", "column", value FROM rejected_rows') == [
        (r.batch_id, "d.csv", 3, "amount", "ten")]


def test_missing_required_columns(store, csv_writer):
    """Only the deal's identity and its outcome are required columns; amount and creation date may be missing."""
    r = import_files(store, csv_writer("d.csv", ["deal_id", "account"], [["X", "Y"]]))
    assert r.status == "rejected"
    assert [(e.column, e.reason) for e in r.errors] == [("outcome", "required column missing")]
    r = import_files(store, csv_writer("e.csv", ["account", "outcome"], [["Y", "open"]]))
    assert [(e.column, e.reason) for e in r.errors] == [("deal_id", "required column missing")]


def test_history_file_given_as_deals(store, csv_writer):
    r = import_files(store, csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [["X", "1", "2026-01-01"]]))
    assert r.status == "rejected" and "--history" in r.errors[0].reason


@pytest.mark.parametrize("content,reason", [
    (b"\x00\x01\x02garbage\x00", "NUL"), (b"", "empty"), (b"\xff\xfe\x00", "NUL"),
])
def test_unreadable_files(store, tmp_path, content, reason):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    r = import_files(store, path)
    assert r.status == "rejected" and r.errors[0].file == "x.csv"


def test_missing_file(store, tmp_path):
    r = import_files(store, tmp_path / "nope.csv")
    assert r.status == "rejected" and r.errors[0].reason == "file not found"
    # a file that is not there has no rows: the headline does not count one
    assert r.message == "rejected: 1 problem; the database is unchanged" and r.rejected_rows == 0
    from analytics.i18n.issues import message_text

    assert message_text(r.outcome, "zh") == "已拒绝:共有 1 个问题;数据库未作任何改动"


def test_conflicting_duplicate_ids(store, csv_writer):
    r = import_files(store, csv_writer("d.csv", HEADER, [
        ["X1", "Acme", "A", "10", "2026-01-01", "", "open"],
        ["X1", "Acme", "A", "99", "2026-01-01", "", "open"],
        ["X2", "Beta", "A", "10", "2026-01-01", "", "open"],
        ["X2", "Beta", "A", "10", "2026-01-01", "", "open"]]))
    assert r.status == "rejected"
    assert [(e.row, e.value) for e in r.errors] == [(2, "X1"), (3, "X1")]
    assert "rows 2, 3" in r.errors[0].reason
    assert [(w.row, w.reason) for w in r.warnings] == [(5, "duplicate of row 4: kept once")]


def test_history_for_an_unknown_deal(store, csv_writer):
    deals = csv_writer("d.csv", HEADER, [["X1", "Acme", "A", "10", "2026-01-01", "", "open"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [["X1", "1", "2026-01-01"],
                                                                        ["X9", "1", "2026-01-01"],
                                                                        ["X1", "nine", "2026-01-01"]])
    r = import_files(store, deals, history)
    assert r.status == "rejected"
    assert [(e.file, e.row, e.column) for e in r.errors] == [("h.csv", 3, "deal_id"), ("h.csv", 4, "stage")]


# Re-import, later exports, undo -----------------------------------------------------------------------------
def test_reimport_is_unchanged(store, tmp_path):
    first = load_handworked(store, tmp_path)
    before = store.table_checksums()
    deals, history = write_handworked(tmp_path)
    again = import_files(store, deals, history)
    assert again.status == "unchanged" and again.batch_id == first.batch_id
    assert "already imported as batch 1" in again.message
    assert store.table_checksums() == before
    assert len(list_batches(store)) == 1


def test_later_export_updates_without_duplicates(store, csv_writer, tmp_path):
    load_handworked(store, tmp_path)
    n_events = store.scalar("SELECT count(*) FROM stage_events")
    # D3 moves on to stage 3 and changes owner; D10 is new. D3's earlier events are repeated in the export.
    deals = csv_writer("deals2.csv", ["deal_id", "account", "owner", "amount", "created_at", "outcome"], [
        ["D3", "Account D3", "Cara", "300", "2026-05-01", "open"],
        ["D10", "New account", "Cara", "900", "2026-06-10", "open"]])
    history = csv_writer("history2.csv", ["deal_id", "stage", "entered_at"], [
        ["D3", "1", "2026-05-01"], ["D3", "2", "2026-06-01"], ["D3", "3", "2026-06-20"], ["D10", "1", "2026-06-10"]])
    r = import_files(store, deals, history)
    assert (r.status, r.deals_inserted, r.deals_updated, r.stage_events) == ("imported", 1, 1, 2)
    assert store.scalar("SELECT count(*) FROM stage_events") == n_events + 2
    assert store.fetchone("SELECT owner, tier, expected_close FROM deals WHERE deal_id = 'D3'") == (
        "Cara", "A", date(2026, 12, 1))  # columns absent from the export keep their values
    assert store.scalar("SELECT furthest_stage FROM deal_facts WHERE deal_id = 'D3'") == 3
    assert store.scalar("SELECT count(*) FROM deals") == 10


def test_undo_restores_the_earlier_state_exactly(store, csv_writer, tmp_path):
    load_handworked(store, tmp_path)
    before = store.table_checksums(("deals", "stage_events", "deal_facts", "deal_previous"))
    deals = csv_writer("deals2.csv", HEADER, [["D3", "Renamed", "B", "1", "2026-05-01", "2026-06-30", "lost"],
                                              ["D10", "New", "A", "5", "2026-06-10", "", "open"]])
    history = csv_writer("history2.csv", ["deal_id", "stage", "entered_at"], [["D10", "1", "2026-06-10"]])
    batch = import_files(store, deals, history).batch_id
    assert store.table_checksums(("deals", "stage_events", "deal_facts", "deal_previous")) != before
    undone = undo_batch(store, batch)
    assert undone.status == "undone"
    assert store.table_checksums(("deals", "stage_events", "deal_facts", "deal_previous")) == before
    with pytest.raises(UndoError, match="already undone"):
        undo_batch(store, batch)


def test_undo_first_batch_empties_the_store(store, tmp_path):
    empty = store.table_checksums(("deals", "stage_events", "deal_facts"))
    load_handworked(store, tmp_path)
    undo_batch(store, 1)
    assert store.table_checksums(("deals", "stage_events", "deal_facts")) == empty


def test_undo_is_refused_while_a_later_batch_changed_the_same_deals(store, csv_writer, tmp_path):
    load_handworked(store, tmp_path)
    import_files(store, csv_writer("d2.csv", HEADER, [["D1", "Renamed", "A", "1", "2026-01-01", "", "open"]]))
    with pytest.raises(UndoError, match=r"later batches \(2\)"):
        undo_batch(store, 1)
    undo_batch(store, 2)
    undo_batch(store, 1)
    assert store.scalar("SELECT count(*) FROM deals") == 0
    with pytest.raises(UndoError, match="no batch 99"):
        undo_batch(store, 99)


# Warnings and the wide format ------------------------------------------------------------------------------
def test_warnings_flag_what_is_suspicious_but_possible(store, tmp_path):
    r = load_handworked(store, tmp_path)
    reasons = {(w.file, w.row, w.reason) for w in r.warnings}
    # D5 (row 6 of deals.csv) is won with no stage-8 event
    assert ("deals.csv", 6, "won, but the stage history never reaches stage 8: counted as signed at closed_at") \
        in reasons
    assert len(r.warnings) == 1


def test_more_warnings(store, csv_writer):
    deals = csv_writer("d.csv", HEADER, [["X1", "Acme", "A", "0", "2026-02-01", "2026-01-01", "lost"],
                                         ["X2", "Beta", "A", "5", "2026-01-01", "", "won"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [["X1", "1", "2026-03-01"]])
    r = import_files(store, deals, history)
    assert r.status == "imported"
    assert {(w.file, w.row, w.column, w.reason) for w in r.warnings} == {
        ("d.csv", 2, "amount", "amount is 0"),
        ("d.csv", 2, "closed_at", "closed before it was created"),
        ("d.csv", 3, "closed_at", "deal is won but has no closed_at"),
        ("h.csv", 2, "entered_at", "stage entered after the deal closed"),
    }


def test_unknown_columns_are_kept(store, csv_writer):
    r = import_files(store, csv_writer("d.csv", HEADER + ["Sales Engineer"],
                                       [["X1", "Acme", "A", "5", "2026-01-01", "", "open", "Li Wei"]]))
    assert r.status == "imported"
    assert store.scalar("SELECT extra->>'Sales Engineer' FROM deals") == "Li Wei"
    assert any("kept with the deal" in w.reason for w in r.warnings)


def test_wide_format(store, csv_writer):
    header = HEADER + [f"stage_{n}_at" for n in range(1, 9)]
    r = import_files(store, csv_writer("wide.csv", header, [
        ["W1", "Acme", "A", "5", "2026-01-01", "2026-03-01", "won", "2026-01-01", "2026-01-10", "", "2026-02-01",
         "", "", "", "2026-03-01"],
        ["W2", "Beta", "B", "5", "2026-01-01", "", "open", "2026-01-02", "bad date", "", "", "", "", "", ""]]),
                       skip_invalid=True)
    assert r.format == "wide" and r.deals_inserted == 1
    assert [(e.row, e.column, e.value) for e in r.errors] == [(3, "stage_2_at", "bad date")]
    assert store.fetchall("SELECT stage FROM stage_events ORDER BY entered_at") == [(1,), (2,), (4,), (8,)]
    assert store.scalar("SELECT skipped_stages FROM deal_facts") == [3, 5, 6, 7]


@pytest.mark.parametrize("body", ["", ",,,,\n,,,,\n", "\n\n"])
def test_a_file_without_rows_of_data_says_so(store, tmp_path, body):
    # It said "every deal and stage event is already in the database", of a file with no deal in it.
    from analytics.i18n.issues import message_text

    path = tmp_path / "d.csv"
    path.write_text("deal_id,account,amount,created_at,outcome\n" + body)
    before = store.table_checksums()
    r = import_files(store, path)
    assert (r.status, r.message) == ("unchanged", "d.csv: no rows of data: nothing changed")
    assert message_text(r.outcome, "zh") == "d.csv:文件中没有数据行:没有任何变化"
    assert store.table_checksums() == before


def test_a_batch_counts_the_rows_of_each_file_it_read(store, csv_writer):
    """'Rows read' showed 10,054 for a 5,229-row file: the deals file and its history summed."""
    deals = csv_writer("d.csv", ["deal_id", "created_at", "outcome"],
                       [["R1", "2026-01-01", "open"], ["R2", "2026-01-02", "open"], ["R3", "2026-01-03", "open"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"],
                         [["R1", "1", "2026-01-01"], ["R1", "2", "2026-01-05"], ["R2", "1", "2026-01-02"],
                          ["R3", "1", "2026-01-03"], ["R3", "3", "2026-01-09"]])
    assert import_files(store, deals, history).status == "imported"
    batch = list_batches(store)[0]
    assert (batch.files, batch.file_rows, batch.rows_read) == (["d.csv", "h.csv"], [3, 5], 8)
