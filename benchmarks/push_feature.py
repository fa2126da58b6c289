"""Does the close date's push count earn a place among the win model's features? (issue 18, part 3)

    python benchmarks/push_feature.py [DEALS] [SEEDS]     # default 20000 deals, seeds 1 2 3

For each seed, two generated datasets: one with the generator's push signal (deals that end lost are pushed more
often, PUSH_PROBABILITY), and one without it (both fates pushed with the same probability, the mean of the two). On
each, analytics.forecasting.validation.evaluate (train before the cutoff, test on the pipeline open then) runs
with the model's features as they are, and with push_count added. Printed: the pooled held-out Brier score of each
(lower is better) and their difference, per dataset and seed, and the mean difference. The feature joins the model
only if it lowers the Brier score with the signal and does not raise it without.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pooled_brier(report) -> float:
    scored = [s for s in report.stages if s.n_test and s.brier is not None]
    return sum(s.brier * s.n_test for s in scored) / sum(s.n_test for s in scored)


def main() -> int:
    import analytics.forecasting.winmodel as winmodel
    import analytics.sample as sample
    from analytics.forecasting.validation import evaluate
    from analytics.ingest.canonical import import_files
    from analytics.store.connection import Store

    deals = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    seeds = [int(s) for s in sys.argv[2:]] or [1, 2, 3]
    with_signal = dict(sample.PUSH_PROBABILITY)
    flat = sum(with_signal.values()) / len(with_signal)
    base = tuple(f for f in winmodel.NUMERIC if f != "push_count")
    diffs: dict[str, list[float]] = {"signal": [], "none": []}
    print(f"{'data':<7} {'seed':>4} {'without':>9} {'with':>9} {'with − without':>15}")
    for seed in seeds:
        for name, rates in (("signal", with_signal), ("none", {k: flat for k in with_signal})):
            sample.PUSH_PROBABILITY = rates
            with tempfile.TemporaryDirectory() as tmp:
                sample.write_sample(Path(tmp) / "s", sample.SampleParameters(deals=deals, seed=seed,
                                                                             as_of="2026-11-27"))
                with Store(Path(tmp) / "kf.duckdb") as store:
                    import_files(store, Path(tmp) / "s" / "deals.csv", Path(tmp) / "s" / "stage_history.csv")
                    scores = []
                    for numeric in (base, (*base, "push_count")):
                        winmodel.NUMERIC = numeric
                        scores.append(pooled_brier(evaluate(store)))
            winmodel.NUMERIC = base
            diffs[name].append(scores[1] - scores[0])
            print(f"{name:<7} {seed:>4} {scores[0]:>9.5f} {scores[1]:>9.5f} {scores[1] - scores[0]:>+15.5f}")
    sample.PUSH_PROBABILITY = with_signal
    for name, d in diffs.items():
        print(f"mean difference, {name}: {sum(d) / len(d):+.5f} over {len(d)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
