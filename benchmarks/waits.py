"""Where users wait (issue 22), for benchmarks/run.py: from an upload to every page fresh (refresh.py), the weekly
full re-export (reexport.py) and the pipeline-history analyses at their own targets (history.py). Each runs as its
own script, in its own processes, and run.py keeps what it writes to benchmarks/results/ and reports it here.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import HERE, mark

SCRIPTS = {"refresh": "refresh.py", "reexport": "reexport.py", "history": "history.py"}
TARGETS = {"upload_s_100k": 10.0, "upload_s_1m": 30.0, "reexport_ratio": 1.5, "history_ms": 200.0,
           "weekly_s": 3.0, "peak_mib": 1536}


def wait_runs(label: str, repeats: int) -> dict:
    """Each script's result at this size. The 1M refresh runs once: one run is about four minutes."""
    out = {}
    for name, script in SCRIPTS.items():
        if name == "reexport" and label == "10k":
            continue  # a 10k database re-exported is a second of work: nothing to learn there
        args = ["--size", label]
        if name in ("refresh", "reexport"):
            args += ["--repeats", str(1 if label == "1m" and name == "refresh" else repeats)]
        subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent, capture_output=True,
                       text=True, check=True)
        out[name] = json.loads((HERE / "results" / f"{name}-{label}.json").read_text())
    return out


def waits_section(by: dict, sizes: list[str]) -> list[str]:
    """The markdown of the three measures, for the sizes that have them."""
    t = TARGETS
    measured = [label for label in sizes if "waits" in by[label]]
    if not measured:
        return []
    lines = ["", "## From an upload to every page fresh (targets: ≤ 10 s at 100k, ≤ 30 s at 1M)", "",
             "A fresh process imports the deals, the history and the plans (`benchmarks/refresh.py`), then refreshes "
             "every result the pages show by default (`keyfunnel refresh`; the Import page starts it in the "
             "background). The Overview is fresh once the refresh's first four steps are done.", "",
             "| deals | read_csv | import | refresh | upload to every page fresh | to the Overview fresh "
             "| peak memory |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for label in measured:
        r = by[label]["waits"]["refresh"]
        target = t["upload_s_1m"] if r["deals"] >= 1_000_000 else t["upload_s_100k"]
        lines.append(f"| {r['deals']:,} | {r['read_csv_floor_s']:.2f} s | {r['import_s']:.1f} s | "
                     f"{r['refresh_s']:.1f} s | {r['upload_to_every_page_fresh_s']:.1f} s "
                     f"{mark(r['upload_to_every_page_fresh_s'], target)} | {r['upload_to_overview_fresh_s']:.1f} s | "
                     f"{r['peak_mib']:.0f} MiB {mark(r['peak_mib'], t['peak_mib'])} |")
    steps = [label for label in measured if by[label]["deals"] >= 100_000]
    if steps:
        names = list(by[steps[-1]]["waits"]["refresh"]["steps_s"])
        lines += ["", "The refresh, step by step:", "",
                  "| step | " + " | ".join(f"{by[x]['deals']:,}" for x in steps) + " |",
                  "|---|" + "---:|" * len(steps)]
        for name in names:
            lines.append(f"| {name} | " + " | ".join(
                f"{by[x]['waits']['refresh']['steps_s'].get(name, float('nan')):.1f} s" for x in steps) + " |")
    reexported = [label for label in measured if "reexport" in by[label]["waits"]]
    if reexported:
        lines += ["", "## The weekly full re-export, 2% of the deals changed (target ≤ 1.5× read_csv)", "",
                  "Every deal and stage event again into the loaded database, through the write turn "
                  "(`benchmarks/reexport.py`); every 50th deal with a new amount and expected close, and each open "
                  "one of those a stage further with its history's change row. Counted afterwards: what the batch "
                  "wrote. Unchanged deals cost no writes when the undo rows equal the deals changed.", "",
                  "*Before comparing*: what any import of the same files does before it compares a deal, as "
                  "keyfunnel's guarantees require it (each file read whole for its SHA-256 and its encoding, every "
                  "record parsed as text into numbered rows so that a bad value is reported by row, column and value, "
                  "and the write turn's copy and rename, so that no reader waits and nothing is half written), "
                  "measured in the same copies: the least an import that keeps them can take.", "",
                  "| deals | changed | read_csv | before comparing | import | ratio | deals updated "
                  "| stage events added | field changes added | undo rows | peak memory |", "|---:|" + "---:|" * 10]
        for label in reexported:
            r = by[label]["waits"]["reexport"]
            run = r["runs"][0]
            g = r.get("guarantees")
            before = f"{g['seconds']:.2f} s ({r['guarantees_ratio']:.1f}×)" if g else "not measured"
            lines.append(f"| {by[label]['deals']:,} | {r['deals_changed']:,} | {r['read_csv_s']:.2f} s | {before} | "
                         f"{r['import_s']:.2f} s | {r['ratio']:.1f}× {mark(r['ratio'], t['reexport_ratio'])} | "
                         f"{run['updated']:,} | {run['stage_events']:,} | {run['field_changes']:,} | "
                         f"{run['deal_previous']:,} + {run['batch_deals']:,} | "
                         f"{r['peak_mib']:.0f} MiB {mark(r['peak_mib'], t['peak_mib'])} |")
    lines += ["", "## Pipeline history in a running process (targets at 1M: waterfall and slippage ≤ 200 ms, the "
              "forecast week by week ≤ 3 s)", "",
              "`benchmarks/history.py`: medians after a warm call, the funnel measured in the same run as the "
              "baseline.", "",
              "| deals | field changes | funnel (baseline) | waterfall, 2026Q4 | waterfall, every open deal | slippage "
              "| week by week, 2026Q4 | import peak |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label in measured:
        r = by[label]["waits"]["history"]
        ms, ratio = r["ms"], r["ratio_to_funnel"]

        def cell(name: str, target: float | None = None) -> str:
            ok = f" {mark(ms[name], target)}" if target else ""
            return f"{ms[name]:.0f} ms ({ratio[name]:.1f}×){ok}"
        weekly = ms["forecast week by week, 2026Q4"] / 1000
        lines.append(f"| {r['deals']:,} | {r['field_changes']:,} | {ms['funnel (baseline)']:.0f} ms | "
                     f"{cell('waterfall 2026Q4', t['history_ms'])} | "
                     f"{cell('waterfall, every open deal', t['history_ms'])} | {cell('slippage', t['history_ms'])} | "
                     f"{weekly:.1f} s {mark(weekly, t['weekly_s'])} | "
                     f"{r['import_peak_mib']:.0f} MiB {mark(r['import_peak_mib'], t['peak_mib'])} |")
    return lines
