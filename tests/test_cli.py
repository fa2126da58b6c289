import json
import subprocess
import sys

import pytest

from analytics.cli import main

from .handworked import write_handworked


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.duckdb")


def test_import_json_batches_and_undo(capsys, tmp_path, db):
    deals, history = write_handworked(tmp_path)
    code, out, _ = run(capsys, "--db", db, "import", str(deals), "--history", str(history), "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "imported" and result["batch_id"] == 1
    assert (result["deals"], result["stage_events"], result["rejected_rows"]) == (9, 39, 0)
    assert result["errors"] == [] and len(result["warnings"]) == 1
    code, out, _ = run(capsys, "--db", db, "import", str(deals), "--history", str(history), "--json")
    assert code == 0 and json.loads(out)["status"] == "unchanged"
    code, out, _ = run(capsys, "--db", db, "batches", "--json")
    batches = json.loads(out)["batches"]
    assert [(b["batch_id"], b["files"], b["status"]) for b in batches] == [(1, ["deals.csv", "history.csv"],
                                                                           "imported")]
    code, out, _ = run(capsys, "--db", db, "undo", "1")
    assert code == 0 and "batch 1 undone" in out
    code, _, err = run(capsys, "--db", db, "undo", "1")
    assert code == 1 and "already undone" in err and "Traceback" not in err


def test_rejected_import_exits_1_with_errors(capsys, tmp_path, db):
    bad = tmp_path / "bad.csv"
    bad.write_text("deal_id,account,amount,created_at,outcome\nX,Y,lots,2026-01-01,open\n")
    code, out, _ = run(capsys, "--db", db, "import", str(bad), "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "rejected"
    assert result["errors"] == [{"file": "bad.csv", "row": 2, "column": "amount", "value": "lots",
                                 "reason": "not an amount", "code": "not_an_amount", "params": {}}]
    assert result["message_code"] == "rejected"  # a script keys off the codes, never the English
    code, out, _ = run(capsys, "--db", db, "import", str(bad))
    assert code == 1 and "bad.csv, row 2, column amount: value 'lots': not an amount" in out


def test_usage_errors_exit_2(capsys, db):
    with pytest.raises(SystemExit) as e:
        main(["--db", db, "funnel", "--cohort", "2025Q5"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    assert e.value.code == 2


@pytest.mark.parametrize("args, named", [
    (["claim", "--threshold", "75"], "must be between 0 and 1, e.g. 0.75: 75"),
    (["claim", "--threshold", "nan"], "must be between 0 and 1"),
    (["claim", "--min-resolved", "-3"], "must be at least 1: -3"),
    (["forecast", "--draws", "0"], "must be at least 1: 0"),
    (["forecast", "--target", "-100"], "must be a number above 0: -100"),
    (["backtest", "--quarters", "two"], "not a whole number: 'two'"),
    (["deals", "--top", "-1"], "must be at least 1"),
    (["sample", "--deals", "-5", "--out", "x"], "must be at least 1: -5"),
    (["sample", "--years", "0", "--out", "x"], "must be a number above 0: 0"),
    (["sample", "--as-of", "2026-13-01", "--out", "x"], "not a date: '2026-13-01'"),
])
def test_out_of_range_options_are_usage_errors_that_name_the_value(capsys, db, args, named):
    """Each of these once ended in 'internal error: ValueError …' (or wrote a sample of 29 deals for -5)."""
    with pytest.raises(SystemExit) as e:
        main(["--db", db, *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert named in err and args[1] in err and "internal error" not in err


@pytest.mark.parametrize("command", ["funnel", "winrates", "velocity", "flow", "tiers", "claim"])
def test_analysis_commands_json(capsys, tmp_path, db, command):
    deals, history = write_handworked(tmp_path)
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    code, out, _ = run(capsys, "--db", db, command, "--json")
    assert code == 0
    data = json.loads(out)
    if command == "funnel":
        st = data["stages"][1]
        assert set(st) >= {"stage", "reached", "amount", "advanced", "lost_here", "open_here", "conversion",
                           "conversion_ci", "win_rate", "win_rate_ci"}
        assert (st["reached"], st["open_here"], st["advanced"]) == (8, 1, 5)  # D8 is not observed at stage 2
        assert data["as_of"] == "2026-06-01" and data["filters"] == {}
    if command == "claim":
        assert (data["won"], data["resolved"], data["open_excluded"], data["verdict"]) == (2, 3, 1, "insufficient")
    code, out, _ = run(capsys, "--db", db, command, "--region", "East", "--json")
    assert json.loads(out)["filters"] == {"region": ["East"]}
    code, out, _ = run(capsys, "--db", db, command)
    assert code == 0 and out.strip()


def test_the_console_script_runs_cold(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(tmp_path / "x.duckdb"), "funnel",
                          "--json"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["stages"][0]["reached"] == 0


def test_sample_command(capsys, tmp_path):
    code, out, _ = run(capsys, "sample", "--deals", "200", "--seed", "3", "--as-of", "2026-01-01",
                       "--out", str(tmp_path / "s"))
    assert code == 0 and "200 deals" in out
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())
    assert truth["parameters"]["as_of"] == "2026-01-01" and truth["counts"]["deals"] == 200


def test_crm_import_unmapped_stages_exit_1_then_profile(capsys, tmp_path, db, monkeypatch):
    from . import crm_exports

    monkeypatch.setenv("KEYFUNNEL_PROFILES", str(tmp_path / "profiles"))
    path = crm_exports.salesforce_spanish(tmp_path)
    code, out, _ = run(capsys, "--db", db, "import", str(path), "--profile", "salesforce", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "rejected"
    assert {(e["value"], e["reason"].split(":")[0]) for e in result["errors"]
            if e["reason"].startswith("unmapped")} == {("Prospección", "unmapped stage name on 2 rows"),
                                                       ("Negociación", "unmapped stage name on 2 rows"),
                                                       ("Cerrada ganada", "unmapped stage name on 1 row")}
    code, out, _ = run(capsys, "--db", db, "inspect", str(path))
    assert code == 1 and "Negociación" in out and "UNMAPPED" in out
    profile = tmp_path / "profiles" / "es.json"
    profile.parent.mkdir()
    profile.write_text(json.dumps({
        "preset": "salesforce", "decimal_mark": ",", "currency": "EUR", "rates": {"USD": 0.9},
        "columns": {"account": "Nombre de la cuenta"},
        "stages": {"Prospección": 1, "Negociación": 7, "Cerrada ganada": "won"}}), encoding="utf-8")
    code, out, _ = run(capsys, "--db", db, "import", str(path), "--profile", "es", "--json")
    assert code == 0 and json.loads(out)["deals_inserted"] == 5 and json.loads(out)["format"] == "salesforce"
    code, out, _ = run(capsys, "--db", db, "profiles")
    assert out.split() == ["es", "salesforce", "hubspot", "dynamics365", "snapshots", "generic"]
    code, out, _ = run(capsys, "--db", db, "inspect", str(path), "--profile", "es", "--json")
    assert code == 0 and json.loads(out)["stages"][0] == {
        "label": "Prospección", "rows": 2, "stage": 1, "file": "Oportunidades.csv", "column": "StageName"}


def test_crm_import_detects_the_preset_without_a_profile(capsys, tmp_path, db):
    from . import crm_exports

    code, out, _ = run(capsys, "--db", db, "import", str(crm_exports.dynamics365(tmp_path)), "--json")
    assert code == 0 and json.loads(out)["format"] == "dynamics365" and json.loads(out)["stage_events"] == 5


def test_funnel_table_keeps_its_columns_aligned_under_the_longest_stage_name(capsys, tmp_path, db):
    deals, history = write_handworked(tmp_path)
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    code, out, _ = run(capsys, "--db", db, "funnel")
    header, *rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 8
    assert rows[4].startswith("5 Requirements analysis & formal proposal (bid) ")  # the longest name, whole
    # every figure column ends where its heading does
    assert {len(line) for line in rows} == {len(header)}


def test_model_forecast_and_backtest_answer_on_an_empty_database_and_on_nine_deals(capsys, tmp_path, db):
    code, out, _ = run(capsys, "--db", db, "model")
    assert code == 0 and out.startswith("validation: trained on deals closed before –,")  # nothing resolved yet
    deals, history = write_handworked(tmp_path)
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    code, out, _ = run(capsys, "--db", db, "model", "--json")
    report = json.loads(out)
    assert code == 0 and report["mode"] == "small-data" and [s["stage"] for s in report["stages"]] == list(range(1, 8))
    code, out, _ = run(capsys, "--db", db, "model")
    assert code == 0 and " 00:00:00" not in out.splitlines()[0]  # the cutoff is a date
    for command in ("forecast", "backtest"):
        code, out, err = run(capsys, "--db", db, command, "--json")
        assert code == 0 and json.loads(out) and "Traceback" not in err


def test_serve_binds_locally_and_never_shows_a_traceback(monkeypatch, tmp_path):
    import os

    seen = {}
    monkeypatch.setattr(os, "execve", lambda exe, cmd, env: seen.update(cmd=cmd, env=env))
    main(["--db", str(tmp_path / "k.duckdb"), "serve", "--headless"])
    options = dict(zip(seen["cmd"][5::2], seen["cmd"][6::2]))  # after: python -m streamlit run app.py
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8501", "--browser.gatherUsageStats": "false",
                       "--client.showErrorDetails": "none", "--client.toolbarMode": "viewer",
                       "--server.headless": "true"}
    assert seen["env"]["KEYFUNNEL_DB"] == str(tmp_path / "k.duckdb")


def test_deals_table_reads_as_figures_and_stays_aligned_under_chinese_names(capsys, tmp_path, db):
    import unicodedata

    from analytics.cli.forecasting import _as_text

    deals, history = write_handworked(tmp_path)
    deals.write_text(deals.read_text(encoding="utf-8").replace("Account D3", "华东电力 3"), encoding="utf-8")
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    code, out, _ = run(capsys, "--db", db, "deals", "--as-of", "2026-06-30")
    header, *rows = out.splitlines()
    d3 = next(r.split() for r in rows if r.split()[0] == "D3")
    # D3: 300, in stage 2 since Jun 1: 29 days on Jun 30; P(win) as a percentage; no predicted close in 9 deals
    # the last five columns: days_in_stage, mode, push_count, days_pushed, first_expected_close
    assert header.split()[-5:] == ["days_in_stage", "mode", "push_count", "days_pushed", "first_expected_close"]
    assert code == 0 and d3[2:4] == ["3", "Bob"] and d3[5:7] == ["2", "300"] and d3[-5] == "29"
    assert d3[-3:-1] == ["0", "0"]  # its history records no close date: never pushed
    assert d3[7].endswith("%") and d3[9] == "–" and "None" not in out and "nan" not in out

    def width(line):
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
    assert {width(line) for line in rows} == {width(header)}
    import datetime

    import pandas as pd
    shown = _as_text(pd.DataFrame({"amount": [1234.5, float("nan")], "expected_value": [0.4, None],
                                   "p_win": [0.25, None], "days_in_stage": [3.0, None],
                                   "predicted_close": [datetime.date(2027, 1, 2), None]}))
    assert shown.to_dict("list") == {"amount": ["1,234", "–"], "expected_value": ["0", "–"], "p_win": ["25.0%", "–"],
                                     "days_in_stage": ["3", "–"], "predicted_close": ["2027-01-02", "–"]}


def test_model_forecast_backtest_deals_and_report_take_the_filters_the_pages_do(capsys, tmp_path, db):
    # They took --as-of and --json only: `keyfunnel forecast --owner Bob` was a usage error.
    from datetime import date

    from analytics.filters import DealFilter
    from analytics.forecasting.backtest import backtest
    from analytics.forecasting.forecast import forecast_quarter
    from analytics.store.connection import Store

    deals, history = write_handworked(tmp_path)
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    bob = DealFilter(owner=("Bob",))
    code, out, _ = run(capsys, "--db", db, "deals", "--owner", "Bob", "--json")
    assert code == 0 and [d["deal_id"] for d in json.loads(out)["deals"]] == ["D3"]  # Bob's one open deal; Ann: D7
    code, out, _ = run(capsys, "--db", db, "forecast", "--owner", "Bob", "--json")
    bobs_forecast = json.loads(out)
    code, out, _ = run(capsys, "--db", db, "backtest", "--owner", "Bob", "--quarters", "2", "--json")
    bobs_backtest = json.loads(out)
    with Store(db, read_only=True) as store:
        assert bobs_forecast["expected"] == pytest.approx(forecast_quarter(store, filters=bob).expected)
        assert bobs_backtest["quarters"] == json.loads(json.dumps(
            backtest(store, 2, filters=bob).to_json(), default=str))["quarters"]
    code, out, _ = run(capsys, "--db", db, "model", "--owner", "Bob", "--json")
    assert code == 0 and json.loads(out)["stages"]
    page = tmp_path / "bob.html"
    code, out, _ = run(capsys, "--db", db, "report", "--owner", "Bob", "--out", str(page), "--json")
    assert code == 0 and json.loads(out) == {"path": str(page), "quarter": "2026Q2", "as_of": str(date(2026, 6, 1))}
    assert "Account D3" in page.read_text() and "Account D7" not in page.read_text()


def test_inspect_suggests_a_profile_for_an_unrecognised_export_that_imports_once_edited(tmp_path, capsys):
    import tomllib

    export = tmp_path / "商机.csv"
    export.write_bytes(("商机编号,商机名称,客户名称,商机阶段,预估金额,创建时间\n"
                        "S1,华东电力扩容,华东电力,赢单,1200000,2025/3/1\n"
                        "S2,北方化工,北方化工,初步接洽,,2025/5/1\n").encode("gbk"))
    db = str(tmp_path / "kf.duckdb")
    code, out, _ = run(capsys, "--db", db, "inspect", str(export))
    assert code == 1  # 初步接洽 is unmapped
    toml_text = out[out.index("# keyfunnel mapping profile"):out.index("\npreset: generic")]
    profile = tomllib.loads(toml_text.replace('# "初步接洽" = ?', '"初步接洽" = 1'))
    assert profile["preset"] == "generic" and profile["columns"]["stage"] == "商机阶段"
    assert profile["stages"] == {"赢单": "won", "初步接洽": 1}
    (tmp_path / "mine.toml").write_text(toml_text.replace('# "初步接洽" = ?', '"初步接洽" = 1'), encoding="utf-8")
    code, out, _ = run(capsys, "--db", db, "import", str(export), "--profile", str(tmp_path / "mine.toml"), "--json")
    assert code == 0 and json.loads(out)["deals_inserted"] == 2


def test_key_columns_in_a_profile_name_what_identifies_a_deal(tmp_path, capsys):
    export = tmp_path / "deals.csv"
    export.write_text("Topic,Customer,Stage,Value\nPumps,Contoso,Won,10\nPumps,Fabrikam,Lost,20\n", encoding="utf-8")
    (tmp_path / "p.toml").write_text('preset = "generic"\nkey_columns = ["Topic"]\n', encoding="utf-8")
    db = str(tmp_path / "kf.duckdb")
    code, out, _ = run(capsys, "--db", db, "import", str(export), "--profile", str(tmp_path / "p.toml"), "--json")
    result = json.loads(out)
    assert code == 0 and result["deals_inserted"] == 2  # the same Topic twice: two deals, numbered, not merged
    assert any(w["reason"] == "rows 2, 3 have the same Topic: kept as 2 deals, numbered in file order"
               for w in result["warnings"])


@pytest.mark.parametrize("command", ["funnel", "winrates", "velocity", "flow", "tiers", "claim"])
def test_as_of_rebuilds_the_data_as_it_stood_then(tmp_path, capsys, command):
    """`funnel --as-of 2025-06-30` returned today's funnel under the earlier date. Each analysis as of Feb 28 must
    equal the same analysis on a database that holds only what was known by then."""
    from .conftest import write_csv
    from .handworked import DEAL_HEADER, DEALS, HISTORY

    day, cut = "2026-02-28", "2026-03-01"
    header = DEAL_HEADER[:1] + ["account"] + DEAL_HEADER[1:]
    closed, outcome = DEAL_HEADER.index("closed_at") + 1, DEAL_HEADER.index("outcome") + 1
    created = DEAL_HEADER.index("created_at") + 1
    then = []
    for r in DEALS:
        row = [r[0], f"Account {r[0]}", *r[1:]]
        if row[created] >= cut:
            continue  # not created yet (D3)
        if not (row[closed] and row[closed] < cut):
            row[closed], row[outcome] = "", "open"  # closed later: open then
        then.append(row)
    known = [h for h in HISTORY if h[2] < cut]
    full_db, then_db = str(tmp_path / "full.duckdb"), str(tmp_path / "then.duckdb")
    run(capsys, "--db", full_db, "import", str(write_csv(tmp_path / "d.csv", header, [[r[0], f"Account {r[0]}", *r[1:]]
                                                                                     for r in DEALS])),
        "--history", str(write_csv(tmp_path / "h.csv", ["deal_id", "stage", "entered_at"], HISTORY)))
    run(capsys, "--db", then_db, "import", str(write_csv(tmp_path / "d0.csv", header, then)),
        "--history", str(write_csv(tmp_path / "h0.csv", ["deal_id", "stage", "entered_at"], known)))
    code, as_of_full, _ = run(capsys, "--db", full_db, command, "--as-of", day, "--json")
    code_then, on_then, _ = run(capsys, "--db", then_db, command, "--as-of", day, "--json")
    assert code == code_then == 0
    assert json.loads(as_of_full) == json.loads(on_then)
    _, today, _ = run(capsys, "--db", full_db, command, "--json")
    assert json.loads(today) != json.loads(on_then)  # the as-of date changed the answer, not only its label


def test_refresh_prints_a_line_per_result_and_its_total_time(capsys, tmp_path, db):
    code, out, err = run(capsys, "--db", db, "refresh")
    assert code == 0 and out.strip() == "no deals yet: nothing to compute" and err == ""
    deals, history = write_handworked(tmp_path)
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    code, out, err = run(capsys, "--db", db, "refresh")
    lines = err.strip().splitlines()
    # no calls in the hand-worked data: eight results, the calls' P50 not among them
    assert code == 0 and len(lines) == 8 and lines[0].startswith("[1/8] the win model and this quarter's forecast: ")
    assert lines[4].startswith("[5/8] the backtest over 8 quarters: ") and all(line.endswith(" s") for line in lines)
    assert out.startswith("8 results the pages show by default computed for the current data in ")
    from analytics.store.cache import refresh_state, results_file
    from analytics.store.turns import reading

    def kept():
        with results_file(db) as con:
            return con.execute("SELECT key, data_version, used_at FROM results ORDER BY key").fetchall()

    with reading(db) as store:
        assert refresh_state(store) == "finished"  # an app started now does not compute it again

    before = kept()
    code, out, err = run(capsys, "--db", db, "refresh")  # every step reads what the first computed: none written
    assert code == 0 and len(err.strip().splitlines()) == 8 and kept() == before and len(before) >= 9


def test_a_json_command_starts_without_pandas(tmp_path, capsys):
    """A cold `keyfunnel funnel --json` is what a script waits for: pandas (0.35 s of a 0.7 s start, issue 22's cold
    CLI guard) and scikit-learn are imported only by what builds a frame or a model."""
    deals, history = write_handworked(tmp_path)
    db = str(tmp_path / "kf.duckdb")
    run(capsys, "--db", db, "import", str(deals), "--history", str(history))
    probe = ("import sys\nfrom analytics.cli import main\ncode = main(['--db', sys.argv[1], 'funnel', '--json'])\n"
             "print('modules', 'pandas' in sys.modules, 'sklearn' in sys.modules, code, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, db], capture_output=True, text=True, cwd=tmp_path)
    assert json.loads(out.stdout)["stages"][0]["stage"] == 1
    assert out.stderr.strip().splitlines()[-1] == "modules False False 0"
