"""The weekly habit: a full re-export of the CRM, with a few percent of the deals changed (issue 22).

    python benchmarks/reexport.py --size 1m [--share 0.02] [--repeats 3]

On a database holding the generated sample (benchmarks/turns.py's, imported once), each run in a fresh process on a
fresh copy of it: DuckDB's plain typed read_csv of the re-export's files (the baseline, in the same run), then
keyfunnel's import of the same files through the write turn (the lock, the copy, the import, the rename). The
re-export is every deal and every stage event again, with `share` of the deals changed (spread over the file, not
the first rows): amount, expected close and, for open deals, a stage further (write_reexport). Counted in the
database afterwards: the deals the batch updated, the stage events and field changes it added, and the rows it wrote
for undo (deal_previous, batch_deals), which must be the changed deals only: unchanged deals cost no writes.
Beside it, in the same fresh copies (GUARANTEES): what any import of these files does before it compares a deal,
as keyfunnel's guarantees require (the files read whole for their SHA-256 and encoding, every record parsed as text
into numbered rows, the write turn), against the same baseline: the least an import that keeps them can take.
Written to benchmarks/results/reexport-<size>.json. Target: ≤ 1.5× the read_csv baseline.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, child, machine, sample_dir  # noqa: E402
from benchmarks.run import FLOOR  # noqa: E402
from benchmarks.turns import database  # noqa: E402

IMPORT = """
import time
from analytics.ingest.canonical import import_files
from analytics.store.turns import writing
start = time.perf_counter()
with writing({db!r}, what="benchmarks/reexport.py") as store:
    r = import_files(store, {deals!r}, {history!r})
    counts = {{"updated": r.deals_updated, "inserted": r.deals_inserted, "stage_events": r.stage_events,
               "field_changes": r.field_changes,
               "deal_previous": store.scalar("SELECT count(*) FROM deal_previous WHERE overwritten_by = ?",
                                           [r.batch_id]),
               "batch_deals": store.scalar("SELECT count(*) FROM batch_deals WHERE batch_id = ?", [r.batch_id])}}
assert r.status == "imported", r.message
result = {{"seconds": time.perf_counter() - start, **counts}}
"""

# What any import of these files does before it compares a single deal, kept as keyfunnel's guarantees require it:
# each file read whole for its SHA-256 (the batch's provenance; a file imported before is said to be) and its
# encoding (GBK and NUL bytes are found, not guessed); each record parsed as text into numbered rows, so that a bad
# value is reported by row, column and value; and the write turn, which copies the database to a draft and renames
# it, so that no reader waits and nothing is half written (issue 23). Nothing typed, checked, compared or written.
GUARANTEES = """
import time
from pathlib import Path
from analytics.ingest.csvsource import open_csv
from analytics.ingest.staging import StagedFile, stage_file
from analytics.store.connection import Store
from analytics.store.turns import writing
files = [{deals!r}, {history!r}]
start = time.perf_counter()
sources = [open_csv(path) for path in files]
read = time.perf_counter() - start
with Store({scratch!r}) as scratch:
    start = time.perf_counter()
    for source, table in zip(sources, ("kf_raw_deals", "kf_raw_history")):
        stage_file(scratch, StagedFile(source, table, {{}}, []))
    staged = time.perf_counter() - start
for source in sources:
    source.cleanup()
start = time.perf_counter()
with writing({db!r}, what="benchmarks/reexport.py: a turn that writes nothing"):
    pass
turn = time.perf_counter() - start
result = {{"read_and_hash_s": read, "staged_as_text_s": staged, "write_turn_s": turn,
           "seconds": read + staged + turn}}
"""


def write_reexport(folder: Path, out: Path, share: float) -> int:
    """Every deal and stage event again; one deal in every 1/share changed as a week in a CRM changes it: its amount
    raised by 1, its expected close a fortnight later; an open deal's history records both (a change row an hour after
    its last stage entry) and, short of stage 7, one stage further at that moment. Returns how many deals changed."""
    step = round(1 / share)
    with open(folder / "deals.csv", encoding="utf-8", newline="") as f, \
            open(out / "deals.csv", "w", encoding="utf-8", newline="") as g:
        reader, writer = csv.reader(f), csv.writer(g)
        header = next(reader)
        writer.writerow(header)
        amount, close, outcome = header.index("amount"), header.index("expected_close"), header.index("outcome")
        advanced, changed = {}, 0  # the open deals changed: their new close and amount
        for i, row in enumerate(reader):
            if i % step == 0:
                changed += 1
                if row[amount]:
                    row[amount] = str(float(row[amount]) + 1)
                if row[close]:
                    row[close] = (date.fromisoformat(row[close]) + timedelta(days=14)).isoformat()
                if row[outcome] == "open":
                    advanced[row[0]] = (row[close], row[amount])
            writer.writerow(row)
    last: dict[str, tuple[int, str]] = {}  # the advanced deals' furthest stage and last entry
    with open(folder / "stage_history.csv", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for deal_id, stage, entered_at, *_ in reader:
            if deal_id in advanced and stage:
                furthest, latest = last.get(deal_id, (0, ""))
                last[deal_id] = (max(furthest, int(stage)), max(latest, entered_at))
    shutil.copyfile(folder / "stage_history.csv", out / "stage_history.csv")
    with open(out / "stage_history.csv", "a", encoding="utf-8", newline="") as g:
        writer = csv.writer(g, lineterminator="\n")  # as the generator ends its lines
        for deal_id, (stage, entered_at) in last.items():
            moved = (datetime.fromisoformat(entered_at) + timedelta(hours=1)).isoformat(sep=" ")
            writer.writerow([deal_id, "", moved, *advanced[deal_id]])  # the history records the new values
            if stage < 7:
                writer.writerow([deal_id, stage + 1, moved, "", ""])
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="1m")
    parser.add_argument("--share", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    loaded = database(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        changed = write_reexport(sample_dir(SIZES[args.size]), tmp, args.share)
        deals, history = str(tmp / "deals.csv"), str(tmp / "stage_history.csv")
        floors, runs, guarantees = [], [], []
        for k in range(args.repeats):
            floor_db = tmp / f"floor{k}.duckdb"
            floors.append(child(FLOOR.format(db=str(floor_db), deals=deals, history=history))["seconds"])
            floor_db.unlink()
            db = tmp / f"kf{k}.duckdb"
            shutil.copyfile(loaded, db)
            guarantees.append(child(GUARANTEES.format(db=str(db), deals=deals, history=history,
                                                      scratch=str(tmp / f"scratch{k}.duckdb"))))
            (tmp / f"scratch{k}.duckdb").unlink()
            runs.append(child(IMPORT.format(db=str(db), deals=deals, history=history)))
            db.unlink()
    floor, seconds = statistics.median(floors), statistics.median(r["seconds"] for r in runs)
    kept = {name: statistics.median(g[name] for g in guarantees)
            for name in ("read_and_hash_s", "staged_as_text_s", "write_turn_s", "seconds")}
    result = {"machine": machine(), "size": args.size, "share": args.share, "deals_changed": changed,
              "read_csv_s": floor, "import_s": seconds, "ratio": seconds / floor, "runs": runs,
              "guarantees": kept, "guarantees_ratio": kept["seconds"] / floor,
              "peak_mib": max(r["peak_mib"] for r in runs)}
    print(f"{args.size}, {changed:,} deals changed: read_csv {floor:.2f} s, import {seconds:.2f} s "
          f"({result['ratio']:.1f}×; target ≤ 1.5×); updated {runs[0]['updated']:,}, stage events "
          f"added {runs[0]['stage_events']:,}, field changes {runs[0]['field_changes']:,}, undo rows "
          f"{runs[0]['deal_previous']:,} + {runs[0]['batch_deals']:,}; peak {result['peak_mib']:.0f} MiB")
    print(f"before comparing anything: files read and hashed {kept['read_and_hash_s']:.2f} s, parsed as text "
          f"{kept['staged_as_text_s']:.2f} s, the write turn {kept['write_turn_s']:.2f} s: "
          f"{kept['seconds']:.2f} s, {result['guarantees_ratio']:.1f}× read_csv")
    out = HERE / "results" / f"reexport-{args.size}.json"
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
