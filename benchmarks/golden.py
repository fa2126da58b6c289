"""Golden outputs: what every `keyfunnel` command prints, recorded once and compared after a refactor.

    python benchmarks/golden.py record DIR     # write DIR/<case>.out (stdout, stderr tail, exit code)
    python benchmarks/golden.py check DIR      # run again; list every case whose output differs

One generated dataset (seed 7, 3,000 deals, as of 2026-11-27), imported in a fresh database; then every analysis as
JSON and as text, unfiltered and under two filters; the model, forecast and backtest; the report's workbook as its
sheets' values; batches, undo and a re-import; inspect and import of a CRM export per preset, with exit codes and
error text. A changed result-cache key changes nothing here: only what a user sees is recorded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANALYSES = ("funnel", "winrates", "velocity", "flow", "tiers", "claim", "model", "forecast", "backtest", "deals")
FILTERS = ((), ("--tier", "A"), ("--region", "East", "--created-from", "2025-01-01"))


def _run(db: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(db), *args], capture_output=True,
                          text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"})
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr (last lines)\n" + "\n".join(
        proc.stderr.strip().splitlines()[-5:]) + "\n"


# When a batch was written changes from run to run; what it holds does not.
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def _steady(text: str, tmp: str) -> str:
    """The output with the temporary folder and the moments batches were written named, not spelled; a date at
    midnight (an as-of date written as a datetime) is data and stays."""
    def moment(m: re.Match) -> str:
        return m[0] if m[0].endswith((" 00:00:00", "T00:00:00", " 00:00")) else "<moment>"
    return _MOMENT.sub(moment, text.replace(tmp, "<tmp>"))


def _workbook(path: Path) -> str:
    import openpyxl

    book = openpyxl.load_workbook(path)
    return json.dumps({sheet.title: [[c for c in row] for row in sheet.iter_rows(values_only=True)]
                       for sheet in book.worksheets}, ensure_ascii=False, default=str, indent=1)


def cases(work: Path):
    """Yield (name, output) for every case, in order (later cases read what earlier ones wrote)."""
    db, data = work / "golden.duckdb", work / "data"
    yield "sample", _run(db, "sample", "--out", str(data), "--deals", "3000", "--seed", "7", "--as-of", "2026-11-27")
    yield "import", _run(db, "import", str(data / "deals.csv"), str(data / "stage_history.csv"), "--json")
    yield "reimport", _run(db, "import", str(data / "deals.csv"), str(data / "stage_history.csv"), "--json")
    for analysis in ANALYSES:
        for i, f in enumerate(FILTERS):
            yield f"{analysis}-{i}-json", _run(db, analysis, *f, "--json")
            yield f"{analysis}-{i}-text", _run(db, analysis, *f)
    xlsx = work / "review.xlsx"
    yield "report-xlsx", _run(db, "report", "--out", str(xlsx))
    if xlsx.exists():
        yield "report-xlsx-contents", _workbook(xlsx)
    yield "batches", _run(db, "batches", "--json")
    yield "undo", _run(db, "undo", "1")
    yield "batches-after-undo", _run(db, "batches", "--json")
    sys.path.insert(0, str(ROOT))
    from tests import crm_exports  # the tests' own CRM-shaped files, written here

    writers = {"salesforce": crm_exports.salesforce, "salesforce-spanish": crm_exports.salesforce_spanish,
               "hubspot": crm_exports.hubspot, "dynamics365": crm_exports.dynamics365,
               "snapshots": crm_exports.snapshot_files}
    for preset, write in writers.items():
        folder = work / "crm" / preset
        folder.mkdir(parents=True)
        written = write(folder)
        files = [written] if isinstance(written, Path) else list(written)
        yield f"inspect-{preset}", _run(db, "inspect", *map(str, files))
        yield f"import-{preset}", _run(work / f"{preset}.duckdb", "import", *map(str, files), "--json")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "check"):
        print(__doc__)
        return 2
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, output in cases(Path(tmp)):
            output = _steady(output, tmp)
            path = folder / f"{name}.out"
            if mode == "record":
                path.write_text(output, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != output:
                changed.append(name)
            print(name, "recorded" if mode == "record" else ("changed" if name in changed else "same"), flush=True)
    if changed:
        print(f"{len(changed)} changed: {', '.join(changed)}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
