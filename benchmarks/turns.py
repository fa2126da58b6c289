"""What sharing one database costs (issue 23): a reader's snapshot and a writer's turn, against DuckDB's own open.

    python benchmarks/turns.py --size 100k [--repeats 5]

On a database holding the generated sample (imported once, cached between runs in benchmarks/results/data/):
- the baseline, in the same run: duckdb.connect(path, read_only=True) and a first query, then close;
- a reader's snapshot (analytics.store.turns.reading): the hard link, the same open and query, the link removed;
- a writer's turn that writes nothing (analytics.store.turns.writing): the flock, the copy of the whole file to its
  draft, DuckDB's open of the draft, its close and the rename: what every import, undo or call pays beside its own
  work.
Medians printed and written to benchmarks/results/turns-<size>.json with the file's size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, machine, sample_dir, timed  # noqa: E402


def database(size: str) -> Path:
    from analytics.ingest.canonical import import_files
    from analytics.store.turns import writing

    folder = sample_dir(SIZES[size])
    db = folder / "turns.duckdb"
    if not db.exists():
        with writing(db, what="benchmarks/turns.py") as store:
            assert import_files(store, folder / "deals.csv", folder / "stage_history.csv").status == "imported"
    return db


def main() -> None:
    import duckdb

    from analytics.store.turns import reading, writing

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    db = database(args.size)

    def plain() -> None:
        con = duckdb.connect(str(db), read_only=True)
        con.execute("SELECT value FROM settings WHERE key = 'data_version'").fetchone()
        con.close()

    def snapshot() -> None:
        with reading(db) as store:
            store.data_version()

    def turn() -> None:
        with writing(db, what="benchmarks/turns.py"):
            pass

    results = {}
    for name, fn in (("duckdb_open_s", plain), ("snapshot_s", snapshot), ("write_turn_s", turn)):
        results[name], results[name.replace("_s", "_runs")] = timed(fn, args.repeats)
    results["file_mib"] = db.stat().st_size / 2**20
    results["snapshot_ratio"] = results["snapshot_s"] / results["duckdb_open_s"]
    results["write_turn_ratio"] = results["write_turn_s"] / results["duckdb_open_s"]
    print(f"{args.size}: file {results['file_mib']:.0f} MiB; DuckDB open {results['duckdb_open_s'] * 1000:.0f} ms, "
          f"snapshot {results['snapshot_s'] * 1000:.0f} ms ({results['snapshot_ratio']:.2f}×), "
          f"write turn {results['write_turn_s'] * 1000:.0f} ms ({results['write_turn_ratio']:.1f}×)")
    out = HERE / "results" / f"turns-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "size": args.size, **results}, indent=2))
    from benchmarks.shared_load import write_section

    write_section()


if __name__ == "__main__":
    main()
