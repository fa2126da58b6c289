"""How often the 95% intervals cover the generator's population values.

    python benchmarks/coverage.py --deals 100000 --seeds 40

For each seed: generate, import through the product's path, compute the funnel and the claim, and check whether each
interval (conversion at stages 1–7, P(win | reached s) at 1–7, the claim at stage 7) contains truth.json's value.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def covered(ci, value) -> bool:
    return ci is not None and ci[0] <= value <= ci[1]


def one_seed(deals: int, seed: int) -> dict[str, bool]:
    from analytics.analyses.claim import test_claim
    from analytics.analyses.funnel import compute_funnel
    from analytics.ingest.canonical import import_files
    from analytics.sample import SampleParameters, write_sample
    from analytics.store.connection import Store

    with tempfile.TemporaryDirectory() as tmp:
        truth = write_sample(tmp, SampleParameters(deals=deals, seed=seed, as_of="2026-11-27"))
        with Store(Path(tmp) / "kf.duckdb") as store:
            import_files(store, Path(tmp) / "deals.csv", Path(tmp) / "stage_history.csv")
            funnel = compute_funnel(store)
            claim = test_claim(store, segments=False).overall
    pop = truth["population"]
    out = {}
    for s in range(1, 8):
        out[f"conversion_{s}"] = covered(funnel.stage(s).conversion_ci, pop["conversion"][str(s)])
        out[f"win_rate_{s}"] = covered(funnel.stage(s).win_rate_ci, pop["win_given_reached"][str(s)])
    out["claim"] = covered(claim.ci, pop["preferred_supplier_win_rate"])
    return out


def measure(deals: int, seeds: int, first_seed: int = 1000) -> dict:
    hits: dict[str, int] = {}
    for seed in range(first_seed, first_seed + seeds):
        for key, ok in one_seed(deals, seed).items():
            hits[key] = hits.get(key, 0) + int(ok)
    return {"deals": deals, "seeds": seeds, "coverage": {k: v / seeds for k, v in hits.items()},
            "conversion_pooled": sum(v for k, v in hits.items() if k.startswith("conversion")) / (7 * seeds),
            "win_rate_pooled": sum(v for k, v in hits.items() if k.startswith("win_rate")) / (7 * seeds)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=40)
    args = parser.parse_args()
    result = measure(args.deals, args.seeds)
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"coverage-{args.deals}x{args.seeds}.json").write_text(json.dumps(result, indent=2))
