"""Each page's AppTest run time with N deals loaded: the first load, and the median of later loads.

    python benchmarks/pages.py --size 100k [--repeats 3] [--pages overview,funnel]

The deals, their history and the generator's targets, teams and calls are imported, and the refresh run, in a child
process; each page is then loaded as a fresh app process would (Streamlit's caches cleared: only what the database
keeps). The funnel page, which reads deal_facts only, is each run's baseline: `ratio_to_funnel` is a page's median
over the funnel's, which a noisy machine moves far less than the seconds.
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

from benchmarks.common import HERE, SIZES, child, machine, peak_rss_mib, sample_dir  # noqa: E402

PAGES = ["overview", "import", "funnel", "velocity", "tiers", "claim", "model", "forecast", "review", "deals", "calls"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated (default: every page)")
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    if "funnel" not in pages:
        pages.append("funnel")  # the baseline
    folder = sample_dir(SIZES[args.size])
    db = Path(tempfile.mkdtemp()) / "pages.duckdb"
    # The import and the refresh (what the Import page starts after an import, and `keyfunnel refresh` does) run
    # in a child process: this process then measures what serving the pages costs, time and memory.
    refresh = child(f"""
import time
from analytics.ingest.canonical import import_files
from analytics.ingest.plans import import_plans
from analytics.refresh import refresh_results
from analytics.store.connection import Store
with Store({str(db)!r}) as store:
    import_files(store, {str(folder / 'deals.csv')!r}, {str(folder / 'stage_history.csv')!r})
    import_plans(store, [{str(folder / 'teams.csv')!r}, {str(folder / 'targets.csv')!r},
                         {str(folder / 'calls.csv')!r}])
    start = time.perf_counter()
    refresh_results(store)
result = {{"refresh_s": time.perf_counter() - start}}
""")
    refresh_s = refresh["refresh_s"]
    print("refresh", refresh, flush=True)
    os.environ["KEYFUNNEL_DB"] = str(db)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    results = {}
    for page in pages:
        times = []
        st.cache_data.clear()  # as a fresh app process: only what the database keeps
        st.cache_resource.clear()
        for k in range(args.repeats + 1):
            at = AppTest.from_file(str(root / "app.py"), default_timeout=600).run()  # renders the Overview
            if k == 0:  # the first load as a fresh process makes it: the Overview's run above must not warm it
                st.cache_data.clear()
            start = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            times.append(time.perf_counter() - start)
            assert not at.exception, (page, [e.value for e in at.exception])
        results[page] = {"first_s": times[0], "after_first_median_s": statistics.median(times[1:])}
        print(page, json.dumps(results[page]), flush=True)
    for page in results:
        results[page]["ratio_to_funnel"] = (results[page]["after_first_median_s"]
                                            / results["funnel"]["after_first_median_s"])
    out = {"machine": machine(), "size": args.size, "pages": results, "refresh_s": refresh_s,
           "import_and_refresh_peak_mib": refresh["peak_mib"],
           "peak_mib": peak_rss_mib()}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"pages-{args.size}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
