"""Does the win model's Platt-scaling step (CalibratedClassifierCV, sigmoid, 3 folds) earn its cost? (issue 22)

    python benchmarks/calibration_step.py [DEALS …] [--seeds 1 2 3]     # default 3000 and 20000 deals

For each size and seed, one generated dataset; analytics.forecasting.validation.evaluate (train before the
cutoff, test on the pipeline open then) runs with the calibration step and without it. Printed per dataset: the
pooled held-out Brier score, log loss and 10-bin ECE of each, Spiegelhalter's calibration p-value, and the fit's
time; then the mean differences. The 10-bin ECE is printed but, at a few hundred test deals, moves by ±0.02 by
chance. What was decided from it, with the backtests beside it: docs/metrics.md, "Estimator".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pooled(report, field: str) -> float:
    scored = [s for s in report.stages if s.n_test and getattr(s, field) is not None]
    return sum(getattr(s, field) * s.n_test for s in scored) / sum(s.n_test for s in scored)


def main() -> int:
    import analytics.sample as sample
    from analytics.forecasting.validation import evaluate
    from analytics.ingest.canonical import import_files
    from analytics.store.connection import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deals", nargs="*", type=int, default=[3000, 20000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    header = (f"{'deals':>6} {'seed':>4} {'step':<4} {'brier':>8} {'logloss':>8} {'ece':>7} {'spieg. p':>8} "
              f"{'seconds':>7}")
    print(header)
    diffs: dict[str, list[float]] = {"brier": [], "log_loss": [], "ece": [], "seconds": []}
    for deals in args.deals:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                sample.write_sample(Path(tmp) / "s", sample.SampleParameters(deals=deals, seed=seed,
                                                                             as_of="2026-11-27"))
                with Store(Path(tmp) / "kf.duckdb") as store:
                    import_files(store, Path(tmp) / "s" / "deals.csv", Path(tmp) / "s" / "stage_history.csv")
                    evaluate(store, calibrate_below=0)  # warm: scikit-learn's imports, DuckDB's caches
                    rows = {}
                    for calibrate in (True, False):
                        start = time.perf_counter()
                        report = evaluate(store, calibrate_below=2**62 if calibrate else 0)
                        seconds = time.perf_counter() - start
                        rows[calibrate] = {"brier": pooled(report, "brier"), "log_loss": pooled(report, "log_loss"),
                                           "ece": report.pooled_ece, "seconds": seconds}
                        r = rows[calibrate]
                        print(f"{deals:>6} {seed:>4} {'yes' if calibrate else 'no':<4} {r['brier']:>8.5f} "
                              f"{r['log_loss']:>8.5f} {r['ece']:>7.4f} {report.pooled_calibration_p:>8.3f} "
                              f"{seconds:>7.2f}", flush=True)
            for key in diffs:
                diffs[key].append(rows[False][key] - rows[True][key])
    for key, d in diffs.items():
        print(f"mean (without − with), {key}: {np.mean(d):+.5f} over {len(d)} datasets "
              f"(range {min(d):+.5f} … {max(d):+.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
