"""The pipeline-history analyses in a running process: the quarter's waterfall and slippage, against the funnel
(the analysis every guard has held at ≤ 100 ms) in the same run, on a generated sample with close-date and amount
history. Medians of --repeats calls after one warm call. Targets (issue 18): the waterfall and slippage each ≤ 200 ms
at 1M deals; the forecast week by week through the quarter ≤ 3 s (its model, fitted once at the quarter's start, is
kept after the warm call, as the app keeps it).

    python benchmarks/history.py --size 1m [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, peak_rss_mib, sample_dir, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from analytics.analyses.funnel import compute_funnel
    from analytics.analyses.slippage import compute_slippage
    from analytics.analyses.waterfall import compute_waterfall, identity_holds
    from analytics.forecasting.path import forecast_path
    from analytics.ingest.canonical import import_files
    from analytics.store.connection import Store

    folder = sample_dir(SIZES[args.size])
    db = Path(tempfile.mkdtemp()) / "history.duckdb"
    with Store(db) as store:
        start = time.perf_counter()
        result = import_files(store, folder / "deals.csv", folder / "stage_history.csv")
        import_s = time.perf_counter() - start
        import_peak = peak_rss_mib()
        runs = {"funnel (baseline)": lambda: compute_funnel(store),
                "waterfall 2026Q4": lambda: compute_waterfall(store, date(2026, 10, 1), date(2026, 11, 28), "2026Q4"),
                "waterfall, every open deal": lambda: compute_waterfall(store, date(2026, 8, 1), date(2026, 11, 28)),
                "slippage": lambda: compute_slippage(store),
                "forecast week by week, 2026Q4": lambda: forecast_path(store, "2026Q4", date(2026, 11, 27))}
        assert identity_holds(runs["waterfall 2026Q4"]())
        ms = {}
        for name, fn in runs.items():
            fn()  # warm: a running process
            ms[name] = timed(fn, args.repeats)[0] * 1000
    out = {"deals": SIZES[args.size], "field_changes": result.field_changes, "import_s": import_s,
           "import_peak_mib": import_peak, "ms": ms,
           "ratio_to_funnel": {k: v / ms["funnel (baseline)"] for k, v in ms.items()}}
    print(json.dumps(out, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"history-{args.size}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
