"""A real browser: Playwright drives Debian's chromium against `keyfunnel serve`.

Locally, without /usr/bin/chromium, these tests are skipped; in CI (CI=true) a missing chromium is a failure.
Screenshots of every page go to artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must apt-get install chromium")
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=f"{CHROMIUM} not installed (apt-get install chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "kf.duckdb"
    port = _free_port()
    env = dict(os.environ, KEYFUNNEL_DB=str(db), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = subprocess.Popen([sys.executable, "-m", "analytics.cli", "serve", "--headless", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the app did not become healthy: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # the server and anything it started
    try:  # a refresh still running after the last import holds it open (its thread is not a daemon): not waited for
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _open(page, server, path: str):
    page.goto(f"{server}/{path}")
    page.wait_for_selector("[data-testid='stSidebarNav']")
    page.wait_for_selector("h1")
    _wait_until_idle(page)


def _keep_demo(page) -> None:
    """Untick 'Clear the demo data first' (on by default for a user's first own import)."""
    box = page.locator("[data-testid='stCheckbox']", has_text="Clear the demo data first")
    box.locator("label").click()
    _wait_until_idle(page)


def _wait_until_idle(page, timeout_ms: int = 180_000):
    """Until the script has finished running: Streamlit shows a Stop control while it runs."""
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=timeout_ms)


def test_upload_funnel_language_and_screenshots(page, server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    # every page in Chinese first, on the demo as `keyfunnel serve` built it (its slow results computed then): after
    # the import below, each would wait for the results the import's refresh is recomputing
    for path in ("overview", "import", "velocity", "tiers", "claim", "model", "forecast", "calls", "review", "deals"):
        _open(page, server, f"{path}?lang=zh")
        assert not page.locator("[data-testid='stException']").count(), path
        page.screenshot(path=str(ARTIFACTS / f"browser-{path}-zh.png"), full_page=True)
    _open(page, server, "import?lang=en")
    csv = tmp_path / "browser_deals.csv"
    csv.write_text("deal_id,account,amount,created_at,outcome\nB1,Browser Co,1000,2026-01-01,open\n"
                   "B2,浏览器公司,2000,2026-01-02,won\n", encoding="utf-8")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(csv))
    page.get_by_text("browser_deals.csv").first.wait_for()
    _keep_demo(page)  # the tests after this one read the demo's 3,000 deals
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("2 deals added").wait_for()
    page.screenshot(path=str(ARTIFACTS / "browser-import.png"), full_page=True)
    # `keyfunnel serve` hides Streamlit's developer menu: directors get no Deploy button
    assert page.get_by_role("button", name="Deploy").count() == 0

    _open(page, server, "funnel")
    page.locator(".js-plotly-plot .funnellayer path").first.wait_for()  # the funnel is drawn
    assert page.locator(".js-plotly-plot .funnellayer path").count() >= 8
    page.screenshot(path=str(ARTIFACTS / "browser-funnel.png"), full_page=True)

    page.get_by_text("简体中文").click()
    page.get_by_role("heading", name="漏斗").wait_for()
    assert "lang=zh" in page.url
    page.screenshot(path=str(ARTIFACTS / "browser-funnel-zh.png"), full_page=True)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_overview_fits_one_screen_at_1400_by_900(page, server, lang):
    """A director on Monday: the range against the target, attainment, the week, the deals that need attention and
    the claim, without scrolling."""
    page.set_viewport_size({"width": 1400, "height": 900})
    try:
        _open(page, server, f"overview?lang={lang}")
        page.locator(".js-plotly-plot").nth(2).wait_for()  # the target, attainment and the week's waterfall
        page.wait_for_timeout(1500)  # plotly lays the charts out after they attach
        scroll, client = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                                       " return [m.scrollHeight, m.clientHeight]; }")
        page.screenshot(path=str(ARTIFACTS / f"browser-overview-1400x900-{lang}.png"))
        assert scroll <= client, (scroll, client)
        assert page.locator(".js-plotly-plot").count() == 3
        claim = {"en": "Once preferred supplier", "zh": "成为首选供应商后"}[lang]
        assert page.get_by_text(claim).first.is_visible()
        links = {"en": ["Forecast", "Targets & calls", "Pipeline changes", "Deals", "The claim"],
                 "zh": ["预测", "目标与预测提报", "管道变化", "商机", "论断"]}[lang]
        main = page.locator("[data-testid='stMain']")
        for name in links:  # each tile's link, in the main area (the menu has the same names)
            assert main.get_by_role("link", name=name, exact=True).is_visible(), name
    finally:
        page.set_viewport_size({"width": 1400, "height": 2000})


def test_download_the_quarterly_review(page, server, tmp_path):
    _open(page, server, "review?lang=en")
    button = page.get_by_role("button", name="Download the review (HTML, opens offline)")
    button.wait_for(timeout=120_000)
    with page.expect_download() as info:
        button.click()
    path = tmp_path / "review.html"
    info.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Quarterly forecast review" in text
    assert "<script src=" not in text and len(text) > 1_000_000  # plotly.js is inside: it opens offline
    page.screenshot(path=str(ARTIFACTS / "browser-review.png"), full_page=True)


# Each page's key figures, by their column names: none may need a sideways scroll to be read at 1400 × 900.
KEY_FIGURES = {"funnel": ("stage", "reached", "p_win", "conversion"),
               "deals": ("deal_id", "amount", "p_win", "expected_value", "predicted_close"),
               "review": ("deal_id", "amount", "p_win", "expected_value", "predicted_close")}


def _scroll_needed_to_read(page, grid, columns: list[str]) -> dict[str, float]:
    """How far the table must scroll sideways to show each column whole. The table is drawn on a canvas, so it is
    measured as a reader would find out: select the first cell, step right with the arrow key, and read how far
    the grid scrolled to bring each selected column into view (0: it was in view already)."""
    grid.scroll_into_view_if_needed()
    header = grid.locator("[role='columnheader']")
    header.first.wait_for(state="attached")  # the grid draws its accessible header once it has laid out
    page.wait_for_function("([e, n]) => e.querySelectorAll(\"[role='columnheader']\").length >= n",
                           arg=[grid.element_handle(), len(columns)])
    box = grid.bounding_box()
    headers = header.all_inner_texts()
    assert set(columns) <= set(headers), headers
    page.mouse.click(box["x"] + 20, box["y"] + 35 + 17)  # the first row's first cell, under the 35 px header
    scrolled = {}
    for header in headers[:max(headers.index(c) for c in columns) + 1]:
        scrolled[header] = grid.evaluate("e => e.querySelector('.dvn-scroller').scrollLeft")
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(100)
    page.keyboard.press("Escape")
    return {c: scrolled[c] for c in columns}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_key_figure_is_off_screen_at_1400_by_900(page, server, lang):
    from analytics.i18n.columns import column_label

    context = page.context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        small = context.new_page()
        small.set_default_timeout(120_000)
        for path, keys in KEY_FIGURES.items():
            _open(small, server, f"{path}?lang={lang}")
            grid = small.locator("[data-testid='stDataFrame']").first
            labels = [column_label(k, lang) for k in keys]
            scrolled = _scroll_needed_to_read(small, grid, labels)
            small.screenshot(path=str(ARTIFACTS / f"browser-1400x900-{path}-{lang}.png"))
            assert scrolled == dict.fromkeys(labels, 0), (path, scrolled)
    finally:
        context.close()


def test_a_link_reproduces_the_filtered_view(page, server):
    _open(page, server, "funnel?tier=A&lang=en")
    page.locator(".js-plotly-plot .funnellayer path").first.wait_for()
    assert page.get_by_text("Tier").count() and "tier=A" in page.url
    assert page.locator("[data-testid='stMultiSelect'] span", has_text="A").count() >= 1


def test_no_traceback_for_a_bad_upload(page, server, tmp_path):
    _open(page, server, "import")
    bad = tmp_path / "garbage.csv"
    bad.write_bytes(b"\x00\x01\x02\x03binary")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
    page.get_by_text("NUL bytes").wait_for()
    assert not page.locator("[data-testid='stException']").count()


def test_a_rejected_gbk_upload_is_explained_in_chinese(page, server, tmp_path):
    _open(page, server, "import?lang=zh")
    # Streamlit's uploader has no text to set: its English button and limits line are redrawn in Chinese (CSS).
    # Drawn once its instructions are: with the suite on two workers, the page can be idle a moment before that.
    page.wait_for_selector('[data-testid="stFileUploaderDropzone"] [data-testid="stFileUploaderDropzoneInstructions"]'
                           ' span')
    drawn = page.evaluate("""() => ['button [data-testid="stMarkdownContainer"] p',
                                     '[data-testid="stFileUploaderDropzoneInstructions"] span'].map(s => {
        const e = document.querySelector('[data-testid="stFileUploaderDropzone"] ' + s);
        return [getComputedStyle(e).fontSize, getComputedStyle(e, '::after').content]; })""")
    assert drawn == [["0px", '"上传"'], ["0px", '"每个文件不超过 200MB · CSV、TXT、TSV 或工作簿(XLSX、XLSM、XLS、ODS)"']]
    bad = tmp_path / "商机.csv"
    bad.write_bytes("商机编号,客户,金额,创建日期,结果\nG1,华东电力,很多,2026-01-01,赢单\n".encode("gb18030"))
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
    _wait_until_idle(page)
    page.get_by_role("button", name="导入", exact=True).click()
    page.get_by_text("已拒绝:1 行中共有 1 个问题;数据库未作任何改动").wait_for()
    page.get_by_text("校验报告 (1)").wait_for()  # the table itself is drawn on a canvas: see the screenshot
    _wait_until_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser-import-rejected-zh.png"), full_page=True)
    assert not page.locator("[data-testid='stException']").count()


def test_an_unknown_address_is_explained_in_chinese(page, server):
    """Streamlit's own "Page not found" dialog is English only: in Chinese keyfunnel redraws its two lines."""
    page.goto(f"{server}/no-such-page?lang=zh")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("您请求的页面不存在:已改为显示概览。").wait_for()
    assert dialog.get_by_text("页面不存在", exact=True).count() == 1
    assert "Page not found" not in dialog.inner_text() and "main page" not in dialog.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser-page-not-found-zh.png"))
    page.goto(f"{server}/no-such-page?lang=en")  # English keeps Streamlit's words
    page.get_by_role("dialog").get_by_text("Page not found").wait_for()


@pytest.fixture(autouse=True, scope="module")
def _no_stray_artifacts():
    yield
    shutil.rmtree(ROOT / ".streamlit-cache", ignore_errors=True)


def test_ten_sessions_while_an_import_runs(page, server, tmp_path):
    """Streamlit sessions are threads sharing one DuckDB connection (a cursor each): ten readers and one importer
    at once, and every page still renders, and the import lands."""
    from analytics.sample import SampleParameters, write_sample

    write_sample(tmp_path, SampleParameters(deals=8_000, seed=77, as_of="2026-11-27"))  # seconds to import
    deals = tmp_path / "concurrent_deals.csv"
    import pandas as pd

    frame = pd.read_csv(tmp_path / "deals.csv", dtype=str, keep_default_na=False)
    frame["deal_id"] = "C-" + frame["deal_id"]
    frame.to_csv(deals, index=False)
    pages = ["overview", "funnel", "velocity", "tiers", "claim", "deals", "funnel?tier=A", "velocity?region=East",
             "tiers?lang=zh", "claim?lang=zh"]
    browser = page.context.browser  # the module's chromium; each session its own context
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in range(len(pages) + 1)]
    try:
        importer = contexts[0].new_page()
        importer.set_default_timeout(180_000)
        _open(importer, server, "import")
        importer.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(deals))
        importer.get_by_text("concurrent_deals.csv").first.wait_for()
        _keep_demo(importer)
        readers = []
        for context, path in zip(contexts[1:], pages):
            reader = context.new_page()
            reader.set_default_timeout(180_000)
            reader.goto(f"{server}/{path}")
            readers.append(reader)
        importer.get_by_role("button", name="Import", exact=True).click()  # while the ten are loading
        for reader in readers:
            reader.wait_for_selector("h1")
            _wait_until_idle(reader)
            assert not reader.locator("[data-testid='stException']").count(), reader.url
        importer.get_by_text("8,000 deals added").wait_for()
    finally:
        for context in contexts:
            context.close()
