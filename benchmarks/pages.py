"""Each page's AppTest run time with N deals loaded: the first load, and the median of later loads.

    python benchmarks/pages.py --size 100k [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, machine, sample_dir  # noqa: E402

PAGES = ["overview", "import", "funnel", "velocity", "tiers", "claim", "model", "forecast", "review", "deals"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from analytics.importer import import_files
    from analytics.store import Store

    folder = sample_dir(SIZES[args.size])
    db = Path(tempfile.mkdtemp()) / "pages.duckdb"
    with Store(db) as store:
        import_files(store, folder / "deals.csv", folder / "stage_history.csv")
    os.environ["KEYFUNNEL_DB"] = str(db)
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    results = {}
    for page in PAGES:
        times = []
        for _ in range(args.repeats + 1):
            at = AppTest.from_file(str(root / "app.py"), default_timeout=600).run()
            start = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            times.append(time.perf_counter() - start)
            assert not at.exception, (page, [e.value for e in at.exception])
        results[page] = {"first_s": times[0], "after_first_median_s": statistics.median(times[1:])}
        print(page, json.dumps(results[page]), flush=True)
    out = {"machine": machine(), "size": args.size, "pages": results}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"pages-{args.size}.json").write_text(json.dumps(out, indent=2))
    m = out["machine"]
    lines = ["# Page speed", "", f"`python benchmarks/pages.py --size {args.size} --repeats {args.repeats}` on "
             f"{m['cores']} cores, {m['memory_gib']} GiB: each page's AppTest run with {args.size} deals loaded. "
             "The first load computes and caches (the app opens on the Overview, which has already run); later "
             "loads read the caches until the next import.", "",
             "| page | first load | later loads (median) |", "|---|---:|---:|"]
    lines += [f"| {p} | {r['first_s']:.2f} s | {r['after_first_median_s']:.2f} s |" for p, r in results.items()]
    (HERE.parent / "docs" / "performance-pages.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
