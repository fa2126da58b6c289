"""A later export into a loaded database: 1% of the deals, their amounts changed, with their stage history.

Times that import with the per-deal facts recomputed for the batch's deals only (what keyfunnel does), against the
same import with the whole table rebuilt (what it did before), in the same run; each import is undone before the
next, and the two alternate.

    python benchmarks/later_import.py --size 1m [--repeats 3] [--share 0.01]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, sample_dir  # noqa: E402


def write_later_export(folder: Path, out: Path, share: float) -> int:
    """The first `share` of the deals with each amount raised by 1, and every stage event of theirs."""
    with open(folder / "deals.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    chosen = body[:max(1, int(len(body) * share))]
    amount = header.index("amount")
    for row in chosen:
        row[amount] = str(float(row[amount]) + 1)
    ids = {row[0] for row in chosen}
    with open(out / "later_deals.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *chosen])
    with open(folder / "stage_history.csv", encoding="utf-8", newline="") as f, \
            open(out / "later_history.csv", "w", encoding="utf-8", newline="") as g:
        reader, writer = csv.reader(f), csv.writer(g)
        writer.writerow(next(reader))
        writer.writerows(row for row in reader if row[0] in ids)
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1m", choices=sorted(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--share", type=float, default=0.01)
    args = parser.parse_args()

    import analytics.store.connection as store_module
    from analytics.ingest.batches import undo_batch
    from analytics.ingest.canonical import import_files
    from analytics.store.connection import Store

    folder = sample_dir(SIZES[args.size])
    tmp = Path(tempfile.mkdtemp())
    changed = write_later_export(folder, tmp, args.share)
    incremental_share = store_module.FACTS_RESORT_SHARE
    times: dict[str, list[float]] = {"incremental": [], "full rebuild": []}
    with Store(tmp / "later.duckdb") as store:
        import_files(store, folder / "deals.csv", folder / "stage_history.csv")
        for _ in range(args.repeats):
            for mode, share in (("incremental", incremental_share), ("full rebuild", 0.0)):
                store_module.FACTS_RESORT_SHARE = share  # 0: every refresh rebuilds the whole table
                start = time.perf_counter()
                result = import_files(store, tmp / "later_deals.csv", tmp / "later_history.csv")
                times[mode].append(time.perf_counter() - start)
                assert (result.status, result.deals_updated) == ("imported", changed), result.message
                undo_batch(store, result.batch_id)
    store_module.FACTS_RESORT_SHARE = incremental_share
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    out = {"size": args.size, "deals_changed": changed, "median_s": medians, "runs": times,
           "full_over_incremental": medians["full rebuild"] / medians["incremental"]}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"later-import-{args.size}.json").write_text(json.dumps(out, indent=2))
    print(f"{args.size}: later import of {changed:,} changed deals: {medians['incremental']:.2f} s with their "
          f"facts recomputed, {medians['full rebuild']:.2f} s with the table rebuilt "
          f"({out['full_over_incremental']:.1f}× faster)")


if __name__ == "__main__":
    main()
