"""Profile one import, or one analysis, with pyinstrument: where the time of a missed target goes.

    python benchmarks/profile.py import --size 1m
    python benchmarks/profile.py velocity --size 1m [--calls 20]

Writes benchmarks/results/profiles/<what>-<size>.txt (and .html) and prints the text. pyinstrument samples Python
stacks, so DuckDB's time shows under the importer or analysis method whose statement it runs; for the operators
inside one statement, use DuckDB's own EXPLAIN ANALYZE. Needs the bench extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, sample_dir  # noqa: E402

ANALYSES = ("funnel", "win_rates", "velocity", "conformance", "tiers", "claim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("import", *ANALYSES))
    parser.add_argument("--size", default="1m", choices=sorted(SIZES))
    parser.add_argument("--calls", type=int, default=20, help="calls of the analysis profiled (default 20)")
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        sys.exit("pyinstrument is not installed: pip install -e '.[bench]'")

    from analytics.ingest.canonical import import_files
    from analytics.store.connection import Store
    from benchmarks.run import analyses

    folder = sample_dir(SIZES[args.size])
    tmp = Path(tempfile.mkdtemp())
    try:
        with Store(tmp / "profile.duckdb") as store:
            profiler = Profiler(interval=0.001)
            if args.what == "import":
                with profiler:
                    result = import_files(store, folder / "deals.csv", folder / "stage_history.csv")
                assert result.status == "imported", result.message
            else:
                import_files(store, folder / "deals.csv", folder / "stage_history.csv")
                analysis = analyses(store)[args.what]
                analysis()  # warm-up, as the benchmark does
                with profiler:
                    for _ in range(args.calls):
                        analysis()
        out = HERE / "results" / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"{args.what}-{args.size}"
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        stem.with_suffix(".txt").write_text(text, encoding="utf-8")
        stem.with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")
        print(text)
        print(f"written: {stem.with_suffix('.txt')} and .html")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
