"""Property-based: whatever bytes a user uploads, the import ends imported, unchanged or rejected with a readable
error, never an exception; and a rejected import leaves every table exactly as it was."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.ingest.canonical import import_files
from analytics.store.connection import Store

HEADER = ["deal_id", "account", "tier", "amount", "created_at", "closed_at", "outcome", "funding"]
NASTY = ["", " ", "=1+1", "@SUM(A1)", "-5", "1e308", "-1e308", "NaN", "inf", "0001-01-01", "9999-12-31",
         "2026-02-30", "2026年13月1日", "'; DROP TABLE deals; --", "<script>x</script>", "\x00", "\ufeff",
         "A" * 100_000, "中文", "won", "lost", "open", "赢单", "1,234.5", "¥1", "1.234,5", "\r\n", '"', "6", "0"]
cell = st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.integers().map(str),
                 st.dates().map(lambda d: d.isoformat()))
row = st.lists(cell, min_size=0, max_size=len(HEADER) + 2)  # short and long rows too


def encode(rows, encoding: str, delimiter: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=6), encoding=st.sampled_from(["utf-8", "utf-16", "gb18030", "cp1252"]),
       delimiter=st.sampled_from([",", ";", "\t"]), truncate=st.integers(min_value=0, max_value=400),
       garbage=st.binary(max_size=40))
def test_any_csv_ends_cleanly(tmp_path_factory, rows, encoding, delimiter, truncate, garbage):
    folder = tmp_path_factory.mktemp("fuzz")
    data = encode(rows, encoding, delimiter)
    if truncate:
        data = data[: max(1, len(data) - truncate)] + garbage  # truncated mid-row, then garbage
    path = folder / "fuzz.csv"
    path.write_bytes(data)
    with Store(folder / "kf.duckdb") as store:
        before = store.table_checksums()
        result = import_files(store, path)
        assert result.status in ("imported", "unchanged", "rejected")
        if result.status == "rejected":
            assert result.errors and all(e.reason for e in result.errors)
            assert store.table_checksums() == before
        else:
            n = store.scalar("SELECT count(*) FROM deals")
            assert n == result.deals_inserted
            assert store.scalar("SELECT count(*) FROM deals WHERE amount < 0 OR amount > 1e12") == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.sampled_from(["D1", "D2", "D3"]), min_size=2, max_size=6),
       amounts=st.lists(st.integers(min_value=0, max_value=10), min_size=6, max_size=6))
def test_duplicate_ids_with_conflicting_values(tmp_path_factory, ids, amounts):
    folder = tmp_path_factory.mktemp("dups")
    rows = [[i, "Acme", "A", str(a), "2026-01-01", "", "open", "3"] for i, a in zip(ids, amounts)]
    path = folder / "d.csv"
    path.write_bytes(encode(rows, "utf-8", ","))
    with Store(folder / "kf.duckdb") as store:
        result = import_files(store, path)
        conflicting = {i for i in set(ids) if len({a for j, a in zip(ids, amounts) if j == i}) > 1}
        assert (result.status == "rejected") == bool(conflicting)
        assert {e.value for e in result.errors} == conflicting


good_deal = st.builds(lambda n, a: [f"D{n}", a, "A", "100", "2026-01-01", "", "open", "3"],
                      st.integers(0, 10**6), st.sampled_from(["Acme", "华东电力", "Multi\nline", "Two\n\nbreaks", ""]))
# a row with one invalid cell: (column position, a value that column rejects)
bad_deal = st.builds(lambda n, bad: [f"B{n}", "Acme", "A", "100", "2026-01-01", "", "open", "3"][:bad[0]]
                     + [bad[1]] + [f"B{n}", "Acme", "A", "100", "2026-01-01", "", "open", "3"][bad[0] + 1:],
                     st.integers(0, 10**6),
                     st.sampled_from([(2, "Z"), (3, "lots"), (4, "yesterday"), (6, "maybe"), (7, "9")]))
# rows with nothing in their cells (Excel's ",,,,,,,"; white space; a short one): blank rows, as empty lines are.
# (A full-width space is tested in test_importer: alone in a tiny GB18030 file, it reads as Windows-1252 "¡¡".)
blank_row = st.sampled_from([[""] * len(HEADER), [" ", "", "  ", "\t", "", "", "", ""], ["", ""]])
line = st.one_of(good_deal, bad_deal, st.just(None), st.just(["too", "short"]), blank_row)  # None: an empty line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=12), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "gb18030", "utf-16"]))
def test_each_problem_names_the_row_a_spreadsheet_shows_it_on(tmp_path_factory, lines, newline, encoding):
    """Empty lines, values over several lines and rows of the wrong length in any order: the value reported is
    the one in the row named (read back with the csv module, which numbers rows as a spreadsheet does)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(HEADER)
    for cells in lines:
        buf.write(newline) if cells is None else writer.writerow(cells)
    folder = tmp_path_factory.mktemp("rows")
    path = folder / "d.csv"
    path.write_bytes(buf.getvalue().encode(encoding))
    shown = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))  # shown[r - 1] is spreadsheet row r
    with Store(folder / "kf.duckdb") as store:
        result = import_files(store, path)
    for e in result.errors:
        assert not e.row or any(c.strip() for c in shown[e.row - 1]), e  # never a blank row
        if e.column in HEADER and e.value is not None:
            assert shown[e.row - 1][HEADER.index(e.column)] == e.value, e
        elif e.column is None and e.row:
            assert shown[e.row - 1] == ["too", "short"], e
    n_cell_problems = sum(1 for cells in lines if cells and len(cells) == len(HEADER) and cells[0].startswith("B"))
    assert sum(1 for e in result.errors if e.column in HEADER and e.value is not None) >= n_cell_problems


def _workbook(path, header, rows) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    sheet = book.add_worksheet("Deals")
    for r, cells in enumerate([header, *rows]):
        for c, value in enumerate(cells):
            sheet.write_string(r, c, value.replace("\x00", "")) if isinstance(value, str) else sheet.write(r, c, value)
    book.close()


workbook_cell = st.one_of(cell.map(lambda v: v[:1000]), st.floats(allow_nan=False, allow_infinity=False),
                          st.integers(-10**12, 10**12), st.dates())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(workbook_cell, max_size=len(HEADER) + 2), max_size=6))
def test_any_workbook_ends_cleanly_through_the_write_turn(tmp_path_factory, rows):
    """A workbook's cells are typed (numbers, dates, text): whatever they hold, the import ends cleanly, and a
    rejected one publishes a database equal to the one before it."""
    from analytics.store.turns import reading, writing

    folder = tmp_path_factory.mktemp("fuzz_xlsx")
    path = folder / "deals.xlsx"
    _workbook(path, HEADER, rows)
    db = folder / "kf.duckdb"
    with reading(db) as store:
        before = store.table_checksums()
    with writing(db, what="test") as store:
        result = import_files(store, path)
    assert result.status in ("imported", "unchanged", "rejected")
    with reading(db) as store:
        if result.status == "rejected":
            assert result.errors and all(e.reason and e.file == "deals.xlsx" for e in result.errors)
            assert store.table_checksums() == before
        else:
            assert store.scalar("SELECT count(*) FROM deals") == result.deals_inserted


PLAN_HEADERS = [["period", "owner", "target"], ["period", "team", "target", "region"],
                ["period", "owner", "commit", "best_case", "note", "called_at"], ["owner", "team", "manager"],
                ["期间", "负责人", "目标"], ["期间", "负责人", "承诺", "最佳情况"]]
plan_cell = st.one_of(st.sampled_from(NASTY + ["2026Q4", "2026-q4", "2026-11", "2026年11月", "Ann", "Bob", "North",
                                               "100", "-1", "1e400"]), st.text(max_size=20))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from(PLAN_HEADERS), rows=st.lists(st.lists(plan_cell, min_size=0, max_size=7), max_size=6),
       encoding=st.sampled_from(["utf-8", "gb18030"]))
def test_any_targets_teams_or_calls_file_ends_cleanly(tmp_path_factory, header, rows, encoding):
    """Targets, teams and calls files: imported or rejected with every problem named, never an exception; a
    rejected batch leaves every table as it was."""
    from analytics.ingest.plans import import_plans

    folder = tmp_path_factory.mktemp("fuzz_plans")
    deals = folder / "deals.csv"
    deals.write_bytes(encode([["D1", "Acme", "A", "100", "2026-01-01", "", "open", "3"]], "utf-8", ","))
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path = folder / "plans.csv"
    path.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
    with Store(folder / "kf.duckdb") as store:
        assert import_files(store, deals).status == "imported"
        before = store.table_checksums(("deals", "import_batches", "settings"))
        plans_before = store.fetchall("SELECT count(*), coalesce(sum(hash(t)), 0) FROM targets t")
        result = import_plans(store, [path])
        assert result.status in ("imported", "unchanged", "rejected")
        if result.status == "rejected":
            assert result.errors and all(e.reason for e in result.errors)
            assert store.table_checksums(("deals", "import_batches", "settings")) == before
            assert store.fetchall("SELECT count(*), coalesce(sum(hash(t)), 0) FROM targets t") == plans_before
            assert store.scalar("SELECT count(*) FROM forecast_calls") == 0
