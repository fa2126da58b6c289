"""Backtest accuracy over several generated datasets: interval coverage and MAPE against the CRM default.

    python benchmarks/backtest_accuracy.py --deals 3000 --seeds 10 --quarters 8

Reports the share of quarters whose actual fell inside P10–P90 (nominal 80%), below P10 and above P90 (nominal
10% each), and MAPE against the CRM default weighted pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from analytics.forecasting.backtest import backtest
    from analytics.ingest.canonical import import_files
    from analytics.sample import SampleParameters, write_sample
    from analytics.store.connection import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quarters", type=int, default=8)
    args = parser.parse_args()
    runs = []
    for seed in range(300, 300 + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            write_sample(tmp, SampleParameters(deals=args.deals, seed=seed, as_of="2026-11-27"))
            with Store(Path(tmp) / "kf.duckdb") as store:
                import_files(store, Path(tmp) / "deals.csv", Path(tmp) / "stage_history.csv")
                bt = backtest(store, args.quarters)
        runs.append({"seed": seed, "mape": bt.summary.mape, "crm_mape": bt.baseline_crm_default.mape,
                     "bias": bt.summary.bias, "inside": [q.inside for q in bt.quarters],
                     "below": [q.actual < q.p10 for q in bt.quarters], "above": [q.actual > q.p90 for q in bt.quarters]})
        print(json.dumps(runs[-1]), flush=True)
    inside = [x for r in runs for x in r["inside"]]
    below, above = ([x for r in runs for x in r[k]] for k in ("below", "above"))
    summary = {"deals": args.deals, "seeds": args.seeds, "quarters": len(inside),
               "p10_p90_coverage": sum(inside) / len(inside),
               "below_p10": sum(below) / len(below), "above_p90": sum(above) / len(above),
               "model_beats_crm_mape": sum(r["mape"] < r["crm_mape"] for r in runs),
               "mean_mape": sum(r["mape"] for r in runs) / len(runs),
               "mean_crm_mape": sum(r["crm_mape"] for r in runs) / len(runs)}
    print(json.dumps(summary, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"backtest-{args.deals}x{args.seeds}.json").write_text(json.dumps({"runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()
