"""Speed of import and of each analysis, against DuckDB's plain typed read_csv of the same files.

    python benchmarks/run.py --sizes 10k,100k,1m [--repeats 3]

Medians of several runs; each ratio is taken against a baseline measured in the same run, on the same machine.
Writes benchmarks/results/results.json and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, machine, sample_dir, timed  # noqa: E402


def floor_read_csv(folder: Path) -> None:
    """DuckDB's plain typed read_csv of the same two files into a fresh database file: the floor."""
    import duckdb

    tmp = Path(tempfile.mkdtemp())
    con = duckdb.connect(str(tmp / "floor.duckdb"))
    con.execute("CREATE TABLE d AS SELECT * FROM read_csv(?)", [str(folder / "deals.csv")])
    con.execute("CREATE TABLE h AS SELECT * FROM read_csv(?)", [str(folder / "stage_history.csv")])
    con.close()
    shutil.rmtree(tmp)


def product_import(folder: Path) -> None:
    from analytics.importer import import_files
    from analytics.store import Store

    tmp = Path(tempfile.mkdtemp())
    with Store(tmp / "kf.duckdb") as store:
        result = import_files(store, folder / "deals.csv", folder / "stage_history.csv")
        assert result.status == "imported", result.message
    shutil.rmtree(tmp)


def analyses(store) -> dict:
    from analytics.claim import test_claim
    from analytics.conformance import compute_conformance
    from analytics.funnel import compute_funnel, win_rates_by_stage
    from analytics.tiers import compute_tiers
    from analytics.velocity import compute_velocity

    return {
        "funnel": lambda: compute_funnel(store),
        "win_rates": lambda: win_rates_by_stage(compute_funnel(store)),
        "velocity": lambda: compute_velocity(store),
        "conformance": lambda: compute_conformance(store),
        "tiers": lambda: compute_tiers(store),
        "claim": lambda: test_claim(store),
    }


def run_size(label: str, repeats: int) -> dict:
    from analytics.importer import import_files
    from analytics.store import Store

    n = SIZES[label]
    folder = sample_dir(n)
    truth = json.loads((folder / "truth.json").read_text())
    floor, floor_all = timed(lambda: floor_read_csv(folder), repeats)
    imp, imp_all = timed(lambda: product_import(folder), repeats)
    out = {"deals": n, "stage_events": truth["counts"]["stage_events"],
           "read_csv_floor_s": floor, "import_s": imp, "import_over_floor": imp / floor,
           "runs": {"read_csv_floor": floor_all, "import": imp_all}, "analysis_ms": {}}
    tmp = Path(tempfile.mkdtemp())
    with Store(tmp / "kf.duckdb") as store:
        import_files(store, folder / "deals.csv", folder / "stage_history.csv")
        for name, fn in analyses(store).items():
            fn()  # warm: a running process
            median, _ = timed(fn, max(repeats, 5))
            out["analysis_ms"][name] = median * 1000
    shutil.rmtree(tmp)
    return out


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = ["# Performance", "",
             f"Measured by `python benchmarks/run.py --sizes {','.join(results['sizes'])}` on {m['cores']} cores and "
             f"{m['memory_gib']} GiB; medians of {results['repeats']} runs (analyses: at least 5, in a running "
             "process, after one warm-up call). Ratios are against baselines measured in the same run.", "",
             "## Import against DuckDB's plain typed read_csv of the same files", "",
             "| deals | stage events | read_csv (floor) | keyfunnel import | ratio |", "|---:|---:|---:|---:|---:|"]
    for label in results["sizes"]:
        r = results["by_size"][label]
        lines.append(f"| {r['deals']:,} | {r['stage_events']:,} | {r['read_csv_floor_s']:.2f} s | "
                     f"{r['import_s']:.2f} s | {r['import_over_floor']:.2f}× |")
    names = list(results["by_size"][results["sizes"][0]]["analysis_ms"])
    lines += ["", "## Analyses in a running process (ms)", "",
              "| deals | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for label in results["sizes"]:
        r = results["by_size"][label]
        lines.append(f"| {r['deals']:,} | " + " | ".join(f"{r['analysis_ms'][k]:.0f}" for k in names) + " |")
    lines += ["", f"Peak resident memory of the benchmark process: {results['peak_rss_mib']:.0f} MiB.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",")]
    results = {"machine": machine(), "sizes": sizes, "repeats": args.repeats, "by_size": {}}
    for label in sizes:
        results["by_size"][label] = run_size(label, args.repeats)
        r = results["by_size"][label]
        print(f"{label}: import {r['import_s']:.2f}s vs read_csv {r['read_csv_floor_s']:.2f}s "
              f"({r['import_over_floor']:.2f}×); analyses ms " +
              ", ".join(f"{k} {v:.0f}" for k, v in r["analysis_ms"].items()), flush=True)
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "results.json").write_text(json.dumps(results, indent=2))
    (HERE.parent / "docs" / "performance.md").write_text(markdown(results))


if __name__ == "__main__":
    main()
