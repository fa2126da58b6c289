"""Shared by the benchmark scripts: sizes, cached generated data, medians."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "results" / "data"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def sample_dir(n: int, seed: int = 7) -> Path:
    """Generated once per size and seed, then reused (benchmarks/results/ is git-ignored)."""
    from analytics.sample import GENERATOR_VERSION, SampleParameters, write_sample

    out = DATA / f"n{n}-s{seed}-v{GENERATOR_VERSION}"  # a cached sample from an older generator is not reused
    if not (out / "truth.json").exists() or not (out / "calls.csv").exists():  # the plans came later
        write_sample(out, SampleParameters(deals=n, seed=seed, as_of="2026-11-27"))
    return out


def peak_rss_mib() -> float:
    """This process's own peak resident memory: VmHWM. Not getrusage's ru_maxrss, which Linux carries over from
    the parent across fork/vfork and exec: a 10 MB child of a 1.5 GB parent reports 1.5 GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


def child(code: str) -> dict:
    """Run `code` in a fresh Python process; it sets `result`, a dict, to which its peak RSS is added."""
    import json
    import subprocess
    import sys

    wrapped = code + "\nimport json as _j\nfrom benchmarks.common import peak_rss_mib as _peak\n" \
                     "print(_j.dumps({**result, 'peak_mib': _peak()}))"
    out = subprocess.run([sys.executable, "-c", wrapped], cwd=HERE.parent, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `repeats` calls, and all of them."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1), "cpu": cpu}


def mark(value: float, target: float) -> str:
    """✓ when a measured value is within its target (at most it), else ✗: every report's tables use it."""
    return "✓" if value <= target else "✗"


def growth_exponent(n1: float, v1: float, n2: float, v2: float) -> float | None:
    """b in value ∝ deals^b through (n1, v1) and (n2, v2): 1 is linear; None where a value is not positive."""
    import math

    return math.log(v2 / v1) / math.log(n2 / n1) if v1 > 0 and v2 > 0 else None

