"""From an upload to every page fresh: the import, then every result the refresh keeps (issue 22).

    python benchmarks/refresh.py --size 100k [--repeats 3]

Each run is a fresh Python process on a fresh database, as an upload is: DuckDB's plain typed read_csv of the same
files (the baseline, in the same run), then keyfunnel's import of the deals, the history and the plans (targets,
teams, calls), then analytics.refresh.refresh_results step by step. Printed and written to
benchmarks/results/refresh-<size>.json: the medians of the floor, the import, the refresh and their sum, the time
until the Overview's results are fresh (its forecast, the quarter by owner and the deals that need attention: the
refresh's first four steps), each step's median, and the ratio of upload-to-fresh to the floor. Targets: every
page fresh ≤ 10 s at 100k deals and ≤ 30 s at 1M.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, child, sample_dir  # noqa: E402
from benchmarks.run import FLOOR  # noqa: E402

UPLOAD = """
import time
from analytics.ingest.canonical import import_files
from analytics.ingest.plans import import_plans
from analytics.refresh import refresh_results
from analytics.store.connection import Store
from pathlib import Path
folder = Path({folder!r})
start = time.perf_counter()
with Store({db!r}) as store:
    r = import_files(store, folder / "deals.csv", folder / "stage_history.csv")
    assert r.status == "imported", r.message
    plans = [folder / name for name in ("teams.csv", "targets.csv", "calls.csv")]
    p = import_plans(store, plans, [path.name for path in plans])
    assert p.status == "imported", p.message
    imported = time.perf_counter() - start
    steps = refresh_results(store)
result = {{"import_s": imported, "refresh_s": time.perf_counter() - start - imported,
           "steps": [[s.name, s.seconds] for s in steps]}}
"""

OVERVIEW_STEPS = 4  # the forecast (the Overview's and the Forecast page's), the scored deals, by owner, attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = sample_dir(SIZES[args.size])
    floors, runs = [], []
    for _ in range(args.repeats):
        tmp = Path(tempfile.mkdtemp())
        try:
            floors.append(child(FLOOR.format(db=str(tmp / "floor.duckdb"), deals=str(folder / "deals.csv"),
                                             history=str(folder / "stage_history.csv")))["seconds"])
            runs.append(child(UPLOAD.format(db=str(tmp / "upload.duckdb"), folder=str(folder))))
        finally:
            shutil.rmtree(tmp)
        print(f"run {len(runs)}: floor {floors[-1]:.1f} s, import {runs[-1]['import_s']:.1f} s, refresh "
              f"{runs[-1]['refresh_s']:.1f} s", file=sys.stderr, flush=True)
    median = statistics.median
    steps = {name: median(r["steps"][i][1] for r in runs) for i, (name, _) in enumerate(runs[0]["steps"])}
    upload = median(r["import_s"] + r["refresh_s"] for r in runs)
    out = {"deals": SIZES[args.size], "repeats": args.repeats,
           "read_csv_floor_s": median(floors), "import_s": median(r["import_s"] for r in runs),
           "refresh_s": median(r["refresh_s"] for r in runs), "upload_to_every_page_fresh_s": upload,
           "upload_to_overview_fresh_s": median(r["import_s"] + sum(s for _, s in r["steps"][:OVERVIEW_STEPS])
                                                for r in runs),
           "upload_over_floor": upload / median(floors), "steps_s": steps, "peak_mib": max(r["peak_mib"] for r in runs)}
    print(json.dumps(out, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"refresh-{args.size}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
