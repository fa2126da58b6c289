"""Twenty directors reading while the CLI imports: page times with and without imports landing (issue 23).

    python benchmarks/shared_load.py [--size 100k] [--sessions 20] [--seconds 120] [--think 0]

`keyfunnel serve` on a loaded database (the generated sample, imported and refreshed), then `--sessions` Playwright
pages in one Debian chromium, each clicking through the sidebar's pages in a loop (each session starts at a
different page) for `--seconds`: first with nothing else happening (the baseline, in the same run), then while the
CLI imports three later exports one after another (1%, 2% and 3% of the deals, amounts changed). A page's time runs
from the click until its script has finished (Streamlit's status widget gone). Counted: page times (p50, p95,
max), pages shown with an error box or an exception, and whether every import landed. Written to
benchmarks/results/shared-load-<size>.json. Target: every import lands, no error box, p95 ≤ 2 s.

Loopback only; each loop ends by itself after `--seconds`. The browser runs on the same two cores as the server:
its rendering is part of every page time here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, SIZES, machine, sample_dir  # noqa: E402
from benchmarks.later_import import write_later_export  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PAGES = ["Overview", "Funnel", "Velocity", "Tiers", "Preferred-supplier claim", "Forecast", "Pipeline changes",
         "Deals"]
ROOT = HERE.parent


def keyfunnel(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(db), *args], cwd=ROOT,
                          capture_output=True, text=True)


def serve(db: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "analytics.cli", "--db", str(db), "serve", "--headless",
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("the app did not become healthy")


IDLE_JS = """(title) => {
    const h1 = document.querySelector("h1");
    return h1 && h1.innerText.trim().startsWith(title) && !document.querySelector("[data-testid='stStatusWidget']");
}"""


async def session(browser, url: str, first: int, until: float, think: float, times: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()
    page.set_default_timeout(120_000)
    await page.goto(url)
    await page.wait_for_selector("[data-testid='stSidebarNav']")
    i = first
    while time.monotonic() < until:
        title = PAGES[i % len(PAGES)]
        i += 1
        start = time.perf_counter()
        await page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
        await page.wait_for_function(IDLE_JS, arg=title, polling=50)
        await page.wait_for_timeout(100)  # a run that had not yet shown its status widget
        await page.wait_for_function(IDLE_JS, arg=title, polling=50)
        times.append(time.perf_counter() - start - 0.1)
        bad = await page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count()
        if bad:
            errors.append((title, await page.locator("[data-testid='stAlertContentError']").all_inner_texts()))
        if think:
            await asyncio.sleep(think)
    await context.close()


async def load(url: str, sessions: int, seconds: float, think: float) -> tuple[list, list]:
    from playwright.async_api import async_playwright

    times, errors = [], []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        until = time.monotonic() + seconds
        await asyncio.gather(*(session(browser, url, k, until, think, times, errors) for k in range(sessions)))
        await browser.close()
    return times, errors


def summary(times: list[float], errors: list) -> dict:
    ordered = sorted(times)
    return {"pages": len(times), "p50_s": statistics.median(ordered), "p95_s": ordered[int(0.95 * (len(ordered) - 1))],
            "max_s": ordered[-1], "error_boxes": len(errors), "errors": errors[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--think", type=float, default=0.0, help="seconds a session reads a page before the next")
    args = parser.parse_args()
    folder = sample_dir(SIZES[args.size])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = tmp / "kf.duckdb"
        exports = []
        for k, share in enumerate((0.01, 0.02, 0.03)):
            out = tmp / f"export{k}"
            out.mkdir()
            write_later_export(folder, out, share)
            exports.append(out)
        done = keyfunnel(db, "import", str(folder / "deals.csv"), "--history", str(folder / "stage_history.csv"))
        assert done.returncode == 0, done.stderr
        assert keyfunnel(db, "refresh").returncode == 0
        proc, url = serve(db)
        try:
            quiet = summary(*asyncio.run(load(url, args.sessions, args.seconds, args.think)))
            print(f"without imports: {quiet['pages']} pages, p50 {quiet['p50_s']:.2f} s, p95 {quiet['p95_s']:.2f} s, "
                  f"{quiet['error_boxes']} error boxes", flush=True)
            imports: list[dict] = []

            def import_three() -> None:
                for out in exports:
                    start = time.perf_counter()
                    r = keyfunnel(db, "import", str(out / "later_deals.csv"), "--history",
                                  str(out / "later_history.csv"), "--json")
                    imports.append({"code": r.returncode, "seconds": time.perf_counter() - start,
                                    "status": json.loads(r.stdout)["status"] if r.returncode == 0 else r.stderr})

            import threading

            importer = threading.Thread(target=import_three)
            importer.start()
            busy = summary(*asyncio.run(load(url, args.sessions, args.seconds, args.think)))
            importer.join()
            batches = json.loads(keyfunnel(db, "batches", "--json").stdout)["batches"]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
    print(f"while importing: {busy['pages']} pages, p50 {busy['p50_s']:.2f} s, p95 {busy['p95_s']:.2f} s, "
          f"{busy['error_boxes']} error boxes; imports {[(i['status'], round(i['seconds'], 1)) for i in imports]}")
    result = {"machine": machine(), "size": args.size, "sessions": args.sessions, "seconds": args.seconds,
              "think_s": args.think, "without_imports": quiet, "while_importing": busy, "imports": imports,
              "batches": [(b["batch_id"], b["status"]) for b in batches],
              "every_import_landed": len(imports) == 3 and all(i["code"] == 0 for i in imports)}
    out = HERE / "results" / f"shared-load-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
