"""The pages, driven headlessly with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.i18n.text import t
from analytics.ingest.demo import clear_demo_data
from analytics.store.connection import Store
from analytics.store.turns import reading

from .conftest import ROOT

PAGES = ["pages/overview.py", "pages/import.py", "pages/funnel.py", "pages/velocity.py", "pages/tiers.py",
         "pages/model.py", "pages/forecast.py", "pages/review.py", "pages/calls.py",
         "pages/claim.py", "pages/deals.py", "pages/changes.py"]


def app(db, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """The demo database as `keyfunnel serve` leaves it once its first start is done: the demo imported and its slow
    results computed (KEYFUNNEL_PRECOMPUTE). Built once; each test gets a copy, so that no test waits for the
    3,000-deal import and the eight-quarter backtest again. The first start itself is tested with first_start_db."""
    from analytics.ingest.demo import ensure_demo_data
    from analytics.refresh import refresh_results

    path = tmp_path_factory.mktemp("demo-template") / "demo.duckdb"
    with Store(path) as s:
        assert ensure_demo_data(s).status == "imported"
        refresh_results(s)
    return path


@pytest.fixture
def demo_db(tmp_path, monkeypatch, demo_template):
    import shutil

    from analytics.store.cache import results_path

    path = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_template, path)
    shutil.copyfile(results_path(demo_template), results_path(path))  # the slow results, kept beside it
    monkeypatch.setenv("KEYFUNNEL_DB", str(path))
    return path


@pytest.fixture
def first_start_db(tmp_path, monkeypatch):
    """A database path the app has never opened: its first start builds the demo."""
    path = tmp_path / "first.duckdb"
    monkeypatch.setenv("KEYFUNNEL_DB", str(path))
    return path


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    monkeypatch.setenv("KEYFUNNEL_DB", str(path))
    with Store(path) as s:
        from analytics.ingest.demo import ensure_demo_data

        ensure_demo_data(s)
        clear_demo_data(s)  # the user cleared the demo: the database stays empty
    return path


def texts(at) -> str:
    return " ".join(str(getattr(e, "value", "")) for e in (*at.markdown, *at.title, *at.header, *at.subheader,
                                                           *at.info, *at.caption, *at.metric, *at.error,
                                                           *at.success))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_demo_data(demo_db, page):
    at = app(demo_db, page)
    assert at.title[0].value
    if page not in ("pages/import.py",):
        assert "demo data" in texts(at)  # the sidebar says so, visibly


@pytest.fixture(scope="module")
def no_plans_template(tmp_path_factory):
    """A team's own export and nothing else: no targets, teams or calls (the Targets & calls page raised on it)."""
    from analytics.ingest.canonical import import_files

    from .handworked import write_handworked

    folder = tmp_path_factory.mktemp("no-plans")
    deals, history = write_handworked(folder)
    with Store(folder / "kf.duckdb") as s:
        assert import_files(s, deals, history).status == "imported"
    return folder / "kf.duckdb"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_export_without_targets_or_calls(no_plans_template, tmp_path, monkeypatch, page):
    import shutil

    db = tmp_path / "kf.duckdb"
    shutil.copyfile(no_plans_template, db)
    monkeypatch.setenv("KEYFUNNEL_DB", str(db))
    at = app(db, page)  # asserts no exception
    assert at.title[0].value and not at.error


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_database(empty_db, page):
    at = app(empty_db, page)
    if page not in ("pages/import.py", "pages/claim.py"):
        assert "No deals yet" in texts(at)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "pages/import.py"])
def test_a_filter_matching_nothing_says_so(demo_db, page):
    # Set through the URL: a link reproduces the view. (AppTest cannot set a date_input in Streamlit 1.67.)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["from"] = "2099-01-01"
    at.query_params["tier"] = "A,B"
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    assert at.date_input(key="f_created_from").value == date(2099, 1, 1)
    assert at.multiselect(key="f_tier").value == ["A", "B"]
    if page == "pages/claim.py":
        assert "No resolved deal has reached stage 7" in texts(at) or "No deals match" in texts(at)
    elif page == "pages/calls.py":  # targets are set for units, not for a filtered slice: it says it shows them all
        assert "this page shows them all, whatever the sidebar's filters" in texts(at)
    else:
        assert "No deals match these filters" in texts(at)


def test_a_filter_changes_the_numbers_and_lives_in_the_url(demo_db):
    at = app(demo_db, "pages/funnel.py")
    everyone = at.dataframe[0].value.iloc[0, 1]
    at.multiselect(key="f_tier").set_value(["A"]).run()
    tier_a = at.dataframe[0].value.iloc[0, 1]
    assert everyone == 3000 and 0 < tier_a < everyone
    # (AppTest reports a query parameter as a list of its values before Streamlit 1.6x, as the value after)
    assert at.query_params["tier"] in ("A", ["A"])


def test_the_language_switch_changes_the_labels(demo_db):
    at = app(demo_db, "pages/funnel.py")
    assert at.title[0].value == "Funnel"
    at.radio(key="lang").set_value("zh").run()
    assert at.title[0].value == "漏斗"
    assert "1. 客户规划与电话邀约" in at.dataframe[0].value.iloc[:, 0].tolist()


def test_uploading_a_valid_csv_imports_it(empty_db):
    at = app(empty_db, "pages/import.py")
    csv = ("deal_id,account,amount,created_at,outcome\nU1,Upload Co,100,2026-01-01,open\n"
           "U2,上传公司,200,2026/1/2,赢单\n").encode()
    at.file_uploader(key="uploads_0").set_value([("deals.csv", csv, "text/csv")]).run()
    at.button(key="run_import").click().run()
    assert not at.exception
    assert "2 deals added" in texts(at)
    with reading(empty_db) as s:  # a snapshot, as the app reads
        assert s.scalar("SELECT count(*) FROM deals") == 2


def test_undoing_a_batch_from_the_import_page(empty_db):
    at = app(empty_db, "pages/import.py")
    csv = b"deal_id,account,amount,created_at,outcome\nU1,Upload Co,100,2026-01-01,open\n"
    at.file_uploader(key="uploads_0").set_value([("deals.csv", csv, "text/csv")]).run()
    at.button(key="run_import").click().run()
    with reading(empty_db) as s:
        batch = s.scalar("SELECT max(batch_id) FROM import_batches WHERE status = 'imported'")
    assert at.selectbox(key="undo_batch").value == batch
    # the choice names the batch's files, time and counts; the button waits for a confirmation
    assert "deals.csv" in at.selectbox(key="undo_batch").format_func(batch) and "+1 deals" in \
        at.selectbox(key="undo_batch").format_func(batch)
    assert at.button(key="undo").disabled
    at.checkbox(key="undo_confirm").check().run()
    at.button(key="undo").click().run()
    assert not at.exception and not at.error
    assert f"Batch {batch} undone: 1 added deals and 0 stage events removed" in texts(at)
    statuses = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert statuses.set_index("batch_id")["status"].to_dict()[batch] == "Undone"
    assert statuses.set_index("batch_id")["format"].to_dict()[batch] == "deals"
    # what the batch did before the files' hashes; times to the minute, without ISO's T
    columns = list(statuses.columns)
    assert columns[-1] == "file_sha256" and columns.index("deals_inserted") < columns.index("file_sha256")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", statuses.set_index("batch_id")["undone_at"][batch])
    at.radio(key="lang").set_value("zh").run()
    batches = next(d.value for d in at.dataframe if "status" in d.value.columns).set_index("batch_id")
    assert (batches.loc[batch, "status"], batches.loc[batch, "format"]) == ("已撤销", "商机")
    with reading(empty_db) as s:
        assert s.scalar("SELECT count(*) FROM deals WHERE deal_id = 'U1'") == 0


def test_uploading_an_invalid_csv_shows_the_error_table(empty_db):
    at = app(empty_db, "pages/import.py")
    csv = b"deal_id,account,amount,created_at,outcome\nU1,Upload Co,lots,2026-01-01,open\n"
    at.file_uploader(key="uploads_0").set_value([("bad.csv", csv, "text/csv")]).run()
    at.button(key="run_import").click().run()
    assert [e.value for e in at.error] == ["Rejected: 1 problem in 1 row; the database is unchanged"]
    report = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert report.to_dict("records") == [{"file": "bad.csv", "row": 2, "column": "amount", "value": "lots",
                                          "reason": "not an amount"}]


def test_an_invalid_csv_is_explained_in_chinese(empty_db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["lang"] = "zh"  # chosen before the first run: widgets keep one language's labels throughout
    at.run()
    at.switch_page("pages/import.py").run()
    csv = "deal_id,account,amount,created_at,outcome\nU1,Upload Co,lots,2026-01-01,赢\n".encode()
    at.file_uploader(key="uploads_0").set_value([("bad.csv", csv, "text/csv")]).run()
    at.button(key="run_import").click().run()
    assert [e.value for e in at.error] == ["已拒绝:1 行中共有 2 个问题;数据库未作任何改动"]
    report = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert report[["column", "reason"]].values.tolist() == [
        ["金额", "不是金额"], ["结果", "结果必须是 赢单、丢单 或 进行中(won、lost、open)"]]
    # the table cuts a long reason off; under it, each one in full
    full = next(e for e in at.expander if e.label == "每个问题的完整说明(前 2 条)")
    assert full.code[0].value.splitlines() == ["bad.csv · 2 · 金额 · lots: 不是金额",
                                              "bad.csv · 2 · 结果 · 赢: 结果必须是 赢单、丢单 或 进行中(won、lost、open)"]


FILTERED_PAGES = [p for p in PAGES if p != "pages/import.py"]


def _fingerprint(at) -> str:
    """What a page shows: its tables, metrics, charts and text."""
    parts = [d.value.to_csv() for d in at.dataframe] + [str(m.value) for m in at.metric]
    parts += [str(c.proto.spec) if hasattr(c.proto, "spec") else str(c.proto) for c in at.get("plotly_chart")]
    return texts(at) + "|".join(parts)


@pytest.mark.parametrize("page", FILTERED_PAGES)
def test_every_page_answers_a_filter(demo_db, page):
    at = app(demo_db, page)
    before = _fingerprint(at)
    at.multiselect(key="f_region").set_value(["East"]).run()
    assert not at.exception
    assert _fingerprint(at) != before


@pytest.mark.parametrize("page", PAGES)
def test_every_page_switches_language(demo_db, page):
    at = app(demo_db, page)
    english = at.title[0].value
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception
    chinese = at.title[0].value
    assert chinese != english and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def _columns(frame) -> dict:
    """A shown table's column configuration: label and type per column."""
    return json.loads(frame.proto.columns)


def test_tables_show_money_percentages_dates_and_stages_in_the_chosen_language(demo_db):
    at = app(demo_db, "pages/review.py")
    at.radio(key="lang").set_value("zh").run()
    # the deals pushed out of the quarter, then the top deals, then the slipped ones (AppTest keeps no dataframe keys)
    pushed, top = at.dataframe[0], at.dataframe[1]
    # what moved first: the close now expected, how often and how far it was pushed
    assert list(pushed.value.columns[:5]) == ["deal_id", "amount", "expected_close", "push_count", "days_pushed"]
    columns = _columns(top)
    assert [columns[c]["label"] for c in ("deal_id", "amount", "p_win", "expected_value", "predicted_close")] == [
        "商机编号", "金额", "赢单概率", "期望金额", "预测成交日期"]
    assert columns["amount"]["type_config"]["format"] == "localized"
    assert columns["p_win"]["type_config"]["format"] == "%.1f%%"  # one decimal, as every page writes shares
    assert columns["expected_close"]["type_config"]["type"] == "date"
    assert list(top.value.columns[:4]) == ["deal_id", "amount", "p_win", "expected_value"]  # figures before names
    assert columns["deal_id"]["pinned"] is True
    shown = top.value
    assert shown["p_win"].between(0, 100).all() and shown["p_win"].max() > 1  # shown ×100: 61.7 reads "61.7%"
    assert (shown["expected_value"] == shown["expected_value"].round()).all()  # whole units, not 2436951.698
    assert shown["stage"].str.fullmatch(r"[1-7]\. \S+").all()  # "6. 项目评估", as the Deals page names stages

    at.switch_page("pages/forecast.py").run()
    distribution = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert (distribution["xaxis"]["title"]["text"], distribution["yaxis"]["title"]["text"]) == ("本季度成交额", "模拟次数")
    assert distribution["xaxis"]["ticktext"] and all(x.endswith("万") or x.endswith("亿")
                                                     for x in distribution["xaxis"]["ticktext"])  # not "25M"
    assert re.fullmatch(r"[0-9,.]+(万|亿)元", at.metric[1].value)  # the P50 tile: 2,860万元
    accuracy = _columns(next(d for d in at.dataframe if "mape" in d.value.columns))
    assert [accuracy[c]["label"] for c in ("method", "bias", "coverage")] == ["预测方法", "偏差", "P10–P90 覆盖率"]
    at.switch_page("pages/model.py").run()
    model = next(d for d in at.dataframe if "n_train" in d.value.columns)
    assert _columns(model)["n_train"]["label"] == "训练商机数"
    assert set(model.value["mode"]) <= {"完整", "小样本"}
    assert "以 " in " ".join(c.value for c in at.caption)  # the cutoff caption


def test_import_page_maps_a_crm_export_saves_the_profile_and_imports(empty_db, tmp_path):
    from analytics.ingest.crm.profiles import load_profile, profiles_dir

    from . import crm_exports

    path = crm_exports.salesforce_spanish(tmp_path)
    at = app(empty_db, "pages/import.py")
    at.file_uploader[0].set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "CRM export: salesforce" in texts(at)
    stage_boxes = {box.label: box for box in at.selectbox if box.key and box.key.startswith("map_")}
    # every source stage name, decoded from Windows-1252, with its rows; none mapped by the preset
    assert sorted(stage_boxes) == ["Cerrada ganada · 1 row", "Negociación · 2 rows", "Prospección · 2 rows"]
    assert all(box.value is None for box in stage_boxes.values())
    assert at.button(key="run_import").disabled
    stage_boxes["Prospección · 2 rows"].set_value(1)
    stage_boxes["Negociación · 2 rows"].set_value(7)
    stage_boxes["Cerrada ganada · 1 row"].set_value("won")
    at.run()
    at.checkbox(key="decimal_comma").check()
    at.selectbox(key="reporting_currency").set_value("EUR")
    at.run()
    at.number_input(key="rate_USD").set_value(0.9)
    at.selectbox(key="col_account").set_value("Nombre de la cuenta")  # the Spanish report's account column
    at.text_input(key="profile_name").input("acme-es")
    at.run()
    at.button(key="save_profile").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = load_profile("acme-es", profiles_dir(empty_db))
    assert (saved.stage_for("Negociación"), saved.stage_for("cerrada ganada"), saved.rates) == (7, "won", {"USD": 0.9})
    assert saved.decimal_mark == "," and saved.currency == "EUR"
    assert saved.columns["account"] == ("Nombre de la cuenta",)
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert re.search(r"batch \d+: 5 deals added", texts(at)) and not at.error
    with reading(empty_db) as s:  # a snapshot, as the app reads
        assert s.fetchall("SELECT deal_id, account, amount FROM deals WHERE deal_id IN ('E1', 'E2') ORDER BY 1") == [
            ("E1", "Cía Ñandú", 1000.5), ("E2", "Açores SA", 1800.0)]


def test_import_page_mapping_step_reads_in_chinese(empty_db, tmp_path):
    from . import crm_exports

    path = crm_exports.salesforce_spanish(tmp_path)
    at = app(empty_db, "pages/import.py")
    at.radio(key="lang").set_value("zh").run()
    at.file_uploader[0].set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"CRM 导出:salesforce — {path.name}: 商机" in " ".join(i.value for i in at.info)
    assert [e.label for e in at.expander][:1] == [f"预览: {path.name} (CRM 导出, cp1252, ;)"]
    assert at.selectbox(key="date_order").options == [
        "根据日期自动判断", "年-月-日(2026-06-09)", "月/日/年(06/09/2026)", "日/月/年(09/06/2026)"]
    # fields read in Chinese, never as raw field names (it was "created_at 对应的列")
    assert at.selectbox(key="col_account").label == "客户"  # optional now: not marked required
    assert at.selectbox(key="col_created_at").label == "创建日期"
    assert not any("_" in box.label for box in at.selectbox if box.key and box.key.startswith("col_"))


def test_import_page_lets_a_saved_profile_be_chosen(empty_db, tmp_path, monkeypatch):
    from dataclasses import replace

    from analytics.ingest.crm.profiles import (
        mapping_with,
        preset,
        profiles_dir,
        save_profile,
    )

    from . import crm_exports

    path = crm_exports.hubspot(tmp_path, partner_pipeline=True)
    save_profile(replace(mapping_with(preset("hubspot"), {"Discovery (Partner Pipeline)": 2}), name="partners"),
                 profiles_dir(empty_db))
    at = app(empty_db, "pages/import.py")
    at.file_uploader[0].set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert "1 stage names are not mapped" in " ".join(w.value for w in at.warning)
    at.selectbox(key="profile").set_value("partners").run()
    assert not at.warning and not at.button(key="run_import").disabled
    at.button(key="run_import").click().run()
    assert re.search(r"batch \d+: 5 deals added", texts(at))


def test_stalled_deals_mismatches_and_the_funnel_table_name_their_stages(demo_db):
    at = app(demo_db, "pages/velocity.py")
    at.radio(key="lang").set_value("zh").run()
    stalled = next(d.value for d in at.dataframe if "threshold_days" in d.value.columns)
    assert len(stalled) and stalled["stage"].str.fullmatch(r"[1-7]\. \S+").all()  # "3. 方案交流", not 3
    at.switch_page("pages/tiers.py").run()
    mismatches = next(d.value for d in at.dataframe if "recommended_tier" in d.value.columns)
    assert len(mismatches) and mismatches["stage"].str.fullmatch(r"[1-7]\. \S+").all()
    at.switch_page("pages/funnel.py").run()
    funnel = at.dataframe[0]
    assert funnel.value["stage"].str.fullmatch(r"[1-8]\. \S+").all()
    went_on = funnel.value["advanced"]
    # stage 8 has no next stage: empty, which the table shows as "–" (its placeholder), not "None"
    assert pd.isna(went_on.iloc[-1]) and (went_on.iloc[:-1] > 0).all() and funnel.proto.placeholder == "–"
    config = json.loads(funnel.proto.columns)
    # counts with thousands separators ("Reached 3000" beside "Went on 2,359" before), shares to one decimal
    assert config["reached"]["type_config"]["format"] == config["advanced"]["type_config"]["format"] == "localized"
    assert config["p_win"]["type_config"]["format"] == config["conversion"]["type_config"]["format"] == "%.1f%%"
    assert config["stage"]["pinned"] is True and config["reached"]["label"] == "到达"
    assert list(funnel.value.columns[:4]) == ["stage", "reached", "p_win", "conversion"]  # the figures first


def test_velocity_names_both_win_rates_it_compares(demo_db):
    from analytics.analyses.conformance import compute_conformance

    at = app(demo_db, "pages/velocity.py")
    with reading(demo_db) as store:  # a snapshot, as the app reads
        flow = compute_conformance(store)
    caption = next(c.value for c in at.caption if c.value.startswith("Win rate"))
    # the second rate was shown unlabelled: "Win rate · In order: 20.4% (…); 47.3% (…)"
    assert caption == (f"Win rate: in order {flow.conforming.win_rate:.1%} ({flow.conforming.ci[0]:.1%} – "
                       f"{flow.conforming.ci[1]:.1%}); not in order {flow.non_conforming.win_rate:.1%} "
                       f"({flow.non_conforming.ci[0]:.1%} – {flow.non_conforming.ci[1]:.1%}). Read it with care: "
                       "a deal lost at stage 1 went trivially in order, and a deal that went further had more "
                       "stages to skip or revisit.")
    at.radio(key="lang").set_value("zh").run()
    assert any(c.value.startswith("赢单率:按顺序推进 ") and ";未按顺序 " in c.value for c in at.caption)


def test_stage_transitions_are_numbered_coloured_by_where_they_lead_and_named_on_hover(demo_db):
    at = app(demo_db, "pages/velocity.py")
    sankey = next(d for d in (json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart"))
                  if d["type"] == "sankey")
    node, link = sankey["node"], sankey["link"]
    assert node["label"] == ["1. Planning", "2. Visit", "3. Proposal", "4. Demo", "5. Bid", "6. Evaluation",
                             "7. Negotiation", "8. Signed", "Lost", "Open deals"]  # not the bare numbers it had
    assert node["customdata"][2] == "3. Preliminary proposal" and node["customdata"][7] == "8. Contract signed"
    lost, signed = 8, 7
    colours = {(s, t): c for s, t, c in zip(link["source"], link["target"], link["color"])}
    assert {c for (s, t), c in colours.items() if t == lost} == {"rgba(214, 39, 40, 0.22)"}  # red into Lost
    assert {c for (s, t), c in colours.items() if t == signed} == {"rgba(44, 160, 44, 0.35)"}  # green into 8
    assert colours[(0, 1)] == "rgba(33, 113, 181, 0.25)"
    assert "3. Preliminary proposal → Lost" in link["customdata"]


def test_review_shows_last_quarters_miss_and_heads_the_funnel_chart_once(demo_db):
    at = app(demo_db, "pages/review.py")
    actual = next(m for m in at.metric if m.label == "Actual")
    forecast = next(m for m in at.metric if m.label == "Forecast")
    to_number = {"K": 1e3, "M": 1e6, "B": 1e9}

    def number(text):  # "32.5M CNY" → 32.5e6: the demo's amounts are in CNY, and the tiles say so
        assert text.endswith(" CNY"), text
        text = text.removesuffix(" CNY")
        return float(text[:-1]) * to_number[text[-1]] if text[-1] in to_number else float(text)
    miss = number(actual.value) - number(forecast.value)
    # the tiles are rounded to 0.1M, the miss is computed unrounded: within 0.1M, same sign, same units
    assert actual.delta[0] == ("+" if miss >= 0 else "-") and abs(number(actual.delta[1:]) - abs(miss)) <= 0.1e6
    # the funnel chart is headed once, by the page
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    funnel = next(spec for spec in charts if spec["data"][0]["type"] == "bar" and len(spec["data"]) == 2)
    assert funnel["layout"].get("title") is None
    # the review opens with what moved this quarter: the waterfall comes first
    assert charts[0]["data"][0]["type"] == "waterfall"


def test_the_forecast_pages_backtest_follows_the_filters(demo_db):
    from analytics.filters import DealFilter
    from analytics.forecasting.backtest import backtest

    at = app(demo_db, "pages/forecast.py")
    at.multiselect(key="f_region").set_value(["East"]).run()
    assert not at.exception
    accuracy = next(d.value for d in at.dataframe if "mape" in d.value.columns).set_index("method")
    with reading(demo_db) as store:  # a snapshot, as the app reads
        east, everyone = backtest(store, 8, filters=DealFilter(region=("East",))), backtest(store, 8)
    assert accuracy.loc["keyfunnel", "mape"] == pytest.approx(100 * east.summary.mape)  # shares are shown ×100
    assert east.summary.mape != pytest.approx(everyone.summary.mape)  # the filter makes a difference here


def test_the_overviews_forecast_tile_follows_the_filters(demo_db):
    # Every other tile followed the sidebar; the quarter's P50 was the whole team's.
    from analytics.filters import DealFilter
    from analytics.forecasting.forecast import forecast_quarter

    at = app(demo_db, "pages/overview.py")
    at.multiselect(key="f_region").set_value(["East"]).run()
    tile = next(m for m in at.metric if m.label.endswith(" P50"))
    with reading(demo_db) as store:  # a snapshot, as the app reads
        east, everyone = forecast_quarter(store, filters=DealFilter(region=("East",))), forecast_quarter(store)
    assert tile.value == f"{east.p50 / 1e6:.1f}M CNY" != f"{everyone.p50 / 1e6:.1f}M CNY"


def test_a_database_busy_with_another_process_is_said_in_words_not_a_traceback(tmp_path, monkeypatch):
    """Another process (a CLI import, say) holds the database: the page says so in the chosen language."""
    import subprocess
    import sys

    busy = tmp_path / "busy.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time\nc = duckdb.connect({str(busy)!r})\n"
                               "print('locked', flush=True)\ntime.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("KEYFUNNEL_DB", str(busy))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["lang"] = "zh"
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            f"数据库正忙,请稍后再试:{busy} 正被另一个 keyfunnel 进程使用(例如命令行导入)"]
    finally:
        holder.kill()


def test_the_claim_page_gives_each_segment_its_adjusted_p_value(demo_db):
    from analytics.analyses.claim import test_claim

    at = app(demo_db, "pages/claim.py")
    table = at.dataframe[0].value
    with reading(demo_db) as store:  # a snapshot, as the app reads
        claim = test_claim(store)
    shown = dict(zip(table["value"], table["p_adjusted"]))
    tier_a = next(s for s in claim.segments if (s.dimension, s.value) == ("tier", "A"))
    assert shown["A"] == f"{tier_a.p_adjusted:.3g}" and table["p_adjusted"].iloc[0] == "–"  # all deals: one test
    assert _columns(at.dataframe[0])["p_adjusted"]["label"] == "p, adjusted"
    n = sum(1 for s in claim.segments if s.p_adjusted is not None)
    assert any(c.value.startswith(f"Each interval is 95% on its own: across {n} segments") for c in at.caption)


def test_every_table_shows_a_missing_value_as_a_dash_not_none(demo_db):
    # The CRM baseline has no P10–P90 coverage: Streamlit wrote "None" in that cell.
    at = app(demo_db, "pages/forecast.py")
    accuracy = next(d for d in at.dataframe if "mape" in d.value.columns)
    assert accuracy.value["coverage"].isna().tolist() == [False, True] and accuracy.proto.placeholder == "–"
    assert {d.proto.placeholder for d in at.dataframe} == {"–"}


def test_the_model_page_says_whose_model_a_filtered_view_shows(demo_db):
    note = "With filters, the model and its factor scorecard are still the team's"
    at = app(demo_db, "pages/model.py")
    assert not any(c.value.startswith(note) for c in at.caption)
    at.multiselect(key="f_region").set_value(["East"]).run()
    assert not at.exception and any(c.value.startswith(note) for c in at.caption)


def test_the_overview_runs_the_week_from_one_screen(demo_db):
    """The quarter's range against the target, attainment, the last seven days, the deals that need attention and
    the claim, each with a link to the page behind it; the figures are the analyses' own."""
    from analytics.forecasting.attainment import attainment
    from analytics.forecasting.attention import deals_needing_attention
    from analytics.forecasting.forecast import forecast_quarter

    at = app(demo_db, "pages/overview.py")
    with reading(demo_db) as store:  # a snapshot, as the app reads
        whole, forecast = attainment(store, by="team").whole, forecast_quarter(store)
        attention = deals_needing_attention(store)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles == {f"{forecast.quarter} P50": f"{forecast.p50 / 1e6:.1f}M CNY", "Attainment":
                     f"{whole.won / whole.target:.1%}", "P(reach target)": f"{whole.p_reach_target:.1%}"}
    assert len(at.get("plotly_chart")) == 3  # the range against the target, attainment by team, the week's waterfall
    shown = at.dataframe[0].value
    assert shown["deal_id"].tolist() == [d.deal_id for d in attention.deals] and len(shown) == 8
    assert set(shown.columns) == {"deal_id", "reasons", "p_win", "p_win_change", "amount", "owner"}
    links = [link.proto.page for link in at.get("page_link")]
    assert [link.rsplit("/", 1)[-1] for link in links] == ["forecast", "calls", "changes", "deals", "claim"]
    assert any(m.value.startswith("Once preferred supplier: won ") for m in at.markdown)
    # filtered, the slice has no target of its own: the tiles say what it has won and has open
    at.multiselect(key="f_region").set_value(["East"]).run()
    assert not at.exception and "Attainment" not in {m.label for m in at.metric}
    assert {"Won to date", "Open pipeline"} <= {m.label for m in at.metric}


def test_the_targets_and_calls_page_records_a_call(demo_db):
    from analytics.forecasting.attainment import attainment
    from analytics.store.plans import forecast_calls

    at = app(demo_db, "pages/calls.py")
    with reading(demo_db) as store:
        plan = attainment(store, by="team")
        before = len(forecast_calls(store))
    table = next(d.value for d in at.dataframe if "p_reach_target" in d.value.columns)
    assert table["target"].tolist() == [r.target for r in plan.rows]
    assert table["unit"].tolist()[-1] == "whole team"
    accuracy = next(d.value for d in at.dataframe if "bias_verdict" in d.value.columns)
    assert accuracy["unit"].tolist()[:2] == ["Owner 1", "Owner 2"] and accuracy["bias_verdict"].iloc[0] == "sandbags"
    at.selectbox(key="call_unit").set_value(("owner", "Owner 3"))
    at.number_input(key="call_commit").set_value(2_000_000)
    at.number_input(key="call_best_case").set_value(2_500_000)
    at.text_input(key="call_note").input("two deals in legal")
    next(b for b in at.button if b.proto.is_form_submitter).click().run()
    assert not at.exception and [s.value for s in at.success][-1].startswith("Call ")
    with reading(demo_db) as store:
        calls = forecast_calls(store)
    assert len(calls) == before + 1 and (calls[-1].unit, calls[-1].commit, calls[-1].note) == (
        "Owner 3", 2_000_000, "two deals in legal")
    # a best case below the commit is said, in words, and nothing is recorded
    at.selectbox(key="call_unit").set_value(("owner", "Owner 3"))
    at.number_input(key="call_commit").set_value(3_000_000)
    at.number_input(key="call_best_case").set_value(1_000_000)
    next(b for b in at.button if b.proto.is_form_submitter).click().run()
    assert [e.value for e in at.error] == ["best case is below the commit (3,000,000)"]
    with reading(demo_db) as store:
        assert len(forecast_calls(store)) == before + 1


def test_import_page_maps_a_generic_export_and_unmaps_a_column(empty_db, tmp_path):
    """An export no preset knows: every field's column can be chosen or unmapped, the stage names of the chosen
    column are listed, and Import stays disabled while a stage name is unmapped."""
    body = ("opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
            "A1,Moses,GTX Basic,Cancity,Won,2016-10-20,2017-03-01,1054\n"
            "A2,Zane,GTX Pro,Hatfan,Engaging,2016-10-25,,\n"
            "A3,Zane,GTX Pro,Isdom,Lost,2016-10-25,2017-01-02,0\n")
    at = app(empty_db, "pages/import.py")
    at.file_uploader[0].set_value(("pipeline.csv", body.encode(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No preset recognises this export" in texts(at)
    assert at.selectbox(key="col_stage").value == "deal_stage" and at.selectbox(key="col_product").value is None
    stage_boxes = {box.label: box for box in at.selectbox if box.key and box.key.startswith("map_")}
    assert sorted(stage_boxes) == ["Engaging · 1 row", "Lost · 1 row", "Won · 1 row"]
    assert at.button(key="run_import").disabled  # Engaging is not mapped
    stage_boxes["Engaging · 1 row"].set_value(3)
    at.selectbox(key="col_account").select_index(0).run()  # "—": unmapped, the deals stand alone
    assert not at.button(key="run_import").disabled
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with reading(empty_db) as s:
        assert s.fetchall("SELECT deal_id, account, outcome FROM deals ORDER BY 1") == [
            ("A1", None, "won"), ("A2", None, "open"), ("A3", None, "lost")]
        assert s.scalar("SELECT furthest_stage FROM deal_facts WHERE deal_id = 'A2'") == 3


def test_the_sidebar_as_of_date_shows_every_page_as_the_data_stood_then(demo_db):
    from datetime import date, timedelta

    from analytics.analyses.funnel import compute_funnel

    at = app(demo_db, "pages/funnel.py")
    today = at.dataframe[0].value.iloc[0, 1]
    at.date_input(key="f_as_of").set_value(date(2025, 6, 30)).run()
    assert not at.exception, [e.value for e in at.exception]
    then = at.dataframe[0].value.iloc[0, 1]
    with reading(demo_db) as s, s.as_of(date(2025, 6, 30) + timedelta(days=1)):
        expected = compute_funnel(s).deals
    assert then == expected and 0 < then < today
    assert at.query_params["as_of"] in ("2025-06-30", ["2025-06-30"])


def test_a_first_own_import_clears_the_demo_first_and_clearing_keeps_own_batches(demo_db):
    at = app(demo_db, "pages/import.py")
    body = b"deal_id,account,amount,created_at,outcome\nMY1,Acme,10,2026-01-01,open\n"
    at.file_uploader[0].set_value(("mine.csv", body, "text/csv")).run()
    assert at.checkbox(key="clear_demo_first").value is True  # the default: real and generated deals never mix
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with reading(demo_db) as s:
        assert s.fetchall("SELECT deal_id FROM deals") == [("MY1",)]
    assert not any("demo" in str(i.value).lower() and "generated" in str(i.value) for i in at.sidebar.info)


def test_the_sidebar_clear_button_drops_the_banner_and_says_so_once(demo_db):
    at = app(demo_db, "pages/overview.py")
    at.button(key="clear_demo").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.success and not at.sidebar.button  # cleared: no banner, no button, one message


def test_uploads_are_private_and_deleted_when_their_import_ends(empty_db):
    """Uploads stayed world-readable in a shared temporary folder, after the import and after the app stopped."""
    import stat

    from analytics.ingest.uploads import uploads_dir

    folder = uploads_dir(empty_db)
    (folder / "left-over").mkdir()
    (folder / "left-over" / "old.csv").write_text("a stopped app's upload")
    at = app(empty_db, "pages/import.py")  # the app's start clears what a stopped one left
    assert list(folder.iterdir()) == []
    body = b"deal_id,account,amount,created_at,outcome\nP1,Acme,10,2026-01-01,open\n"
    at.file_uploader[0].set_value(("p.csv", body, "text/csv")).run()
    [saved] = [p for p in folder.rglob("*") if p.is_file()]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(saved.stat().st_mode) == 0o600
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(folder.rglob("*")) == []  # gone with its import; the batch keeps its name and SHA-256
    at.run()
    assert list(folder.rglob("*")) == []  # and the next rerun does not write it again
    with reading(empty_db) as s:
        assert s.scalar("SELECT files FROM import_batches WHERE status = 'imported'") == ["p.csv"]


def test_pages_lead_with_words_and_explain_what_only_the_docs_explained(demo_db):
    at = app(demo_db, "pages/funnel.py")
    table = at.dataframe[0].value
    exits = table["advanced"].fillna(0) + table["lost_here"] + table["open_here"]
    uneven = [i + 1 for i in range(7) if table["reached"][i] > exits[i]]  # the demo's CRM started mid-history
    assert uneven and any(c.value.startswith(f"At stage {', '.join(map(str, uneven))}, reached is more than")
                          for c in at.caption)
    at.switch_page("pages/model.py").run()
    assert re.match(r"On [\d,]+ held-out deals the model (predicts|does not predict) better than the stages' win "
                    r"rates", at.info[0].value)  # a sentence first
    details = at.expander[0]
    assert details.label == "The statistics behind it" and "auc" in details.dataframe[0].value.columns
    assert "Brier" not in at.info[0].value  # the figures are one click away, not in the sentence
    assert details.caption[0].value.startswith("Against the stages' win rates the model lowers the Brier score by")
    at.switch_page("pages/tiers.py").run()
    assert any(c.value.startswith("The rule: A when the stage win rate is at least 50% and the expected close within "
                                  "90 days") for c in at.caption)
    at.switch_page("pages/claim.py").run()
    assert at.slider(key="claim_threshold").value == 75  # in percent, as the claim's sentence says it
    assert at.expander[0].caption[0].value.startswith("One-sided exact binomial test of H0: p ≤ 75%")


def test_the_demos_lost_reasons_read_in_chinese(demo_db):
    at = app(demo_db, "pages/funnel.py")
    at.radio(key="lang").set_value("zh").run()
    bars = next(json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"].get("barmode") == "stack")
    assert {b["name"] for b in bars} == {"价格", "竞争对手", "预算削减", "未决策", "时机", "技术不匹配"}


def test_keyfunnel_serve_has_the_demos_slow_results_computed_at_its_build(first_start_db, monkeypatch):
    """The first Forecast visit on the demo waited 27-70 s for its eight-quarter backtest."""
    import threading

    from analytics.cli import main
    from analytics.forecasting.backtest import backtest
    from analytics.store.cache import refresh_state, result_key, results_file
    from analytics.store.turns import reading

    started = {}
    monkeypatch.setattr("os.execve", lambda path, argv, env: started.update(env))
    main(["serve", "--headless", "--port", "9"])  # what `keyfunnel serve` would start Streamlit with
    assert started["KEYFUNNEL_PRECOMPUTE"] == "1"
    monkeypatch.setenv("KEYFUNNEL_PRECOMPUTE", "1")
    app(first_start_db)  # the first start: builds the demo
    for thread in threading.enumerate():
        if thread.name == "keyfunnel-refresh":
            thread.join(timeout=300)
    with reading(first_start_db) as store, results_file(first_start_db) as con:
        kept = con.execute("SELECT count(*) FROM results WHERE key = ? AND data_version = ?",
                           [result_key(backtest, (8,), {}), store.data_version()]).fetchone()[0]
        assert kept == 1 and refresh_state(store) == "finished"


def test_the_pipeline_changes_page_draws_the_waterfall_the_analysis_computes(demo_db):
    """Since the quarter's start, in Chinese: the waterfall's bars are the start, every bucket that moved the total
    and the end, as compute_waterfall gives them for the same dates."""
    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.waterfall import compute_waterfall
    from analytics.filters import quarter_bounds
    from analytics.forecasting.forecast import quarter_of

    with reading(demo_db) as s:
        as_of = data_as_of(s)
        w = compute_waterfall(s, quarter_bounds(quarter_of(as_of))[0], as_of + timedelta(days=1))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    at.switch_page("pages/changes.py").run()
    at.radio(key="changes_period").set_value("since_quarter").run()
    assert not at.exception
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["type"] == "waterfall"
    order = ("created", "pulled_in", "reopened", "amount_up", "pushed_out", "won", "lost", "amount_down")  # up, down
    moved = [w.bucket(name) for name in order if w.bucket(name).deals]
    assert len(bars["x"]) == len(moved) + 2 and bars["x"][1:-1] == [t(f"bucket_{b.bucket}", "zh") for b in moved]
    assert bars["y"][0] == pytest.approx(w.start_amount) and bars["y"][-1] == pytest.approx(w.end_amount)
    assert sum(bars["y"][1:-1]) == pytest.approx(w.end_amount - w.start_amount)


def test_the_funnel_page_draws_the_win_rate_by_creation_quarter(demo_db):
    from analytics.analyses.trends import compute_trends

    with reading(demo_db) as s:
        tr = compute_trends(s, "quarter", "created")
    at = app(demo_db, "pages/funnel.py")
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if json.loads(c.proto.spec)["data"][0].get("x") == [p.period for p in tr.periods])
    # a quarter with under 80% of its deals resolved is a gap: its estimate rests on its quick losses
    assert chart["data"][0]["y"] == pytest.approx([p.win_rate if p.mature else None for p in tr.periods])
    assert any(not p.mature for p in tr.periods) and any(p.mature for p in tr.periods)
    assert "Trend in the win rate over" in texts(at) or "Too few quarters" in texts(at)


def test_the_import_page_converts_an_export_once_per_run(empty_db, tmp_path, monkeypatch):
    import analytics.ingest.crm.convert as convert
    import analytics.ingest.crm.load as load

    from . import crm_exports

    calls = []
    real = convert.convert_export

    def counting(tables, profile=None):
        calls.append([t.name for t in tables])
        return real(tables, profile)

    monkeypatch.setattr(convert, "convert_export", counting)  # the mapping step's
    monkeypatch.setattr(load, "convert_export", counting)  # the import's, were it to convert again
    path = crm_exports.hubspot(tmp_path)
    at = app(empty_db, "pages/import.py")
    at.file_uploader[0].set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert len(calls) == 1  # the mapping step
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert re.search(r"batch \d+: 4 deals added", texts(at))
    assert len(calls) == 2  # the run of the click: its mapping step, and the import reuses that conversion


def test_the_import_page_takes_a_targets_file(demo_db):
    from analytics.store.plans import quarter_targets

    at = app(demo_db, "pages/import.py")
    body = "期间,负责人,目标\n2026Q4,Owner 1,\"5,000,000\"\n2026Q4,Owner 2,-1\n".encode("utf-8")
    at.file_uploader[0].set_value(("目标.csv", body, "text/csv")).run()
    at.button(key="run_import").click().run()
    assert not at.exception and [e.value for e in at.error][0].startswith("Rejected: 1 problem in 1 row")
    body = "期间,负责人,目标\n2026Q4,Owner 1,\"5,000,000\"\n".encode("utf-8")
    at.run()  # the ended import's uploader is replaced by a fresh one in the next run
    at.file_uploader[0].set_value(("目标.csv", body, "text/csv")).run()
    at.button(key="run_import").click().run()
    assert not at.exception and any(s.value.endswith(": 1 target added") for s in at.success)
    with reading(demo_db) as store:
        assert quarter_targets(store, "2026Q4", "owner")["Owner 1"] == 5_000_000
