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
    from analytics.results import refresh_results

    with Store(db) as store:
        import_files(store, folder / "deals.csv", folder / "stage_history.csv")
        start = time.perf_counter()
        refresh_results(store)  # what the Import page starts after an import, and `keyfunnel refresh` does
        refresh_s = time.perf_counter() - start
    print("refresh", refresh_s, flush=True)
    os.environ["KEYFUNNEL_DB"] = str(db)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    results = {}
    for page in PAGES:
        times = []
        st.cache_data.clear()  # as a fresh app process: only what the database keeps
        st.cache_resource.clear()
        for _ in range(args.repeats + 1):
            at = AppTest.from_file(str(root / "app.py"), default_timeout=600).run()
            start = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            times.append(time.perf_counter() - start)
            assert not at.exception, (page, [e.value for e in at.exception])
        results[page] = {"first_s": times[0], "after_first_median_s": statistics.median(times[1:])}
        print(page, json.dumps(results[page]), flush=True)
    import resource

    out = {"machine": machine(), "size": args.size, "pages": results, "refresh_s": refresh_s,
           "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"pages-{args.size}.json").write_text(json.dumps(out, indent=2))
    m = out["machine"]
    lines = ["# Page speed", "", f"`python benchmarks/pages.py --size {args.size} --repeats {args.repeats}` on "
             f"{m['cores']} cores, {m['memory_gib']} GiB: each page's AppTest run with {args.size} deals loaded. "
             f"After an import, the results pages read by default were computed once ({refresh_s:.1f} s, "
             "`keyfunnel refresh` or the Import page's background refresh). First load: a fresh app process (its "
             "caches cleared), reading them from the database; later loads: other sessions of that process.", "",
             "| page | first load | later loads (median) |", "|---|---:|---:|"]
    lines += [f"| {p} | {r['first_s']:.2f} s | {r['after_first_median_s']:.2f} s |" for p, r in results.items()]
    lines += ["", f"Peak resident memory of the app process: {out['peak_mib']:.0f} MiB."]
    (HERE.parent / "docs" / "performance-pages.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
