"""CRM exports end to end: detected from their headers, imported, and checked against hand-worked histories."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from analytics.analyses.funnel import compute_funnel
from analytics.ingest.batches import list_batches, undo_batch
from analytics.ingest.crm.convert import convert_export
from analytics.ingest.crm.load import import_export, read_export
from analytics.ingest.crm.profiles import (
    ProfileError,
    load_profile,
    mapping_with,
    preset,
    save_profile,
)
from analytics.ingest.crm.source import detect_preset
from analytics.store.connection import Store

from . import crm_exports


def run(store: Store, paths, profile=None, **kw):
    tables, read_errors = read_export(paths)
    return import_export(store, tables, read_errors, profile, **kw)


def histories(store: Store) -> dict[str, list[tuple[int, datetime]]]:
    out: dict[str, list] = {}
    for deal_id, stage, at in store.fetchall(
            "SELECT deal_id, stage, entered_at FROM stage_events ORDER BY deal_id, entered_at, stage"):
        out.setdefault(deal_id, []).append((stage, at))
    return out


def stages_of(store: Store) -> dict[str, list[int]]:
    return {k: [s for s, _ in v] for k, v in histories(store).items()}


def facts(store: Store) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in store.fetchall(
        "SELECT deal_id, outcome, furthest_stage, left_truncated, skipped_stages, moved_backwards FROM deal_facts")}


# Salesforce ------------------------------------------------------------------------------------------------------
def test_salesforce_history_one_event_per_stage_change(store, tmp_path):
    opp, hist = crm_exports.salesforce(tmp_path)
    r = run(store, [opp, hist])
    assert r.status == "imported", r.errors
    assert r.format == "salesforce" and r.files == ["Opportunity.csv", "OpportunityHistory.csv"]
    # 27 history rows; amount-only rows, a close-date-only row and a move between two source stages mapped to 6
    # add nothing: 8 + 5 + 7 + 1 = 21 events
    assert r.stage_events == 21 and r.deals_inserted == 4
    assert stages_of(store) == {"006A": [1, 2, 3, 4, 5, 6, 7, 8], "006B": [1, 2, 3, 2, 3],
                                "006C": [1, 2, 3, 4, 5, 6, 7], "006D": [6]}
    assert histories(store)["006B"][3] == (2, datetime(2025, 2, 10, 9))
    assert facts(store) == {
        "006A": ("won", 8, False, [], False), "006B": ("lost", 3, False, [], True),
        "006C": ("open", 7, False, [], False),
        "006D": ("open", 6, True, [], False),  # first seen at 6: stages 1–5 unobserved, not skipped
    }
    deal = store.fetchone("SELECT amount, closed_at, expected_close, owner, extra->>'ForecastCategoryName' "
                          "FROM deals WHERE deal_id = '006C'")
    assert deal == (80000.0, None, date(2025, 6, 30), "005Y", "Commit")


def test_salesforce_funnel_numbers(store, tmp_path):
    run(store, crm_exports.salesforce(tmp_path))
    f = compute_funnel(store)
    assert [s.reached for s in f.stages] == [4, 4, 4, 3, 3, 3, 2, 1]
    # advanced: observed at s and reached s+1; 006D is not observed before 6
    assert [s.advanced for s in f.stages] == [3, 3, 2, 2, 2, 2, 1, None]
    assert f.stage(3).lost_here == 1 and f.stage(6).open_here == 1 and f.stage(7).open_here == 1
    assert f.stage(3).conversion == pytest.approx(2 / 3)  # 006B lost at 3 of the three at risk
    assert f.stage(6).conversion == pytest.approx(1.0)  # 006D open at 6 is censored, not a failure


def test_reimport_is_unchanged_and_undo_restores(store, tmp_path):
    paths = crm_exports.salesforce(tmp_path)
    first = run(store, paths)
    again = run(store, paths)
    assert again.status == "unchanged" and again.batch_id == first.batch_id
    assert list_batches(store)[0].format == "salesforce"
    undo_batch(store, first.batch_id)
    assert store.scalar("SELECT count(*) FROM deals") == 0 and store.scalar("SELECT count(*) FROM stage_events") == 0


def test_salesforce_opportunities_without_history(store, tmp_path):
    opp, _ = crm_exports.salesforce(tmp_path)
    r = run(store, [opp])
    assert r.status == "imported", r.errors
    # one observation per deal: its current stage (won = 8 at the close date), so all start mid-way but 006B,
    # which is lost and has no event at all
    assert stages_of(store) == {"006A": [8], "006C": [7], "006D": [6]}
    assert histories(store)["006A"] == [(8, datetime(2025, 3, 20))]


def test_a_problem_shows_the_value_as_the_source_file_has_it(store, tmp_path):
    """Found by a fuzz oracle that looks each reported value up in the row named: the warning below showed the
    converted outcome ('won') under IsWon, whose cell says 'true'."""
    opp, hist = crm_exports.salesforce(tmp_path)
    hist.write_text("".join(line for line in hist.read_text().splitlines(keepends=True)
                            if not line.startswith("006A,Closed Won")))
    r = run(store, [opp, hist])
    assert r.status == "imported", r.errors
    assert [(w.file, w.row, w.column, w.value) for w in r.warnings if "never reaches stage 8" in w.reason] == [
        ("Opportunity.csv", 2, "IsWon", "true")]


def test_history_row_for_an_unknown_opportunity_is_reported_at_its_source_row(store, tmp_path):
    opp, hist = crm_exports.salesforce(tmp_path)
    hist.write_text(hist.read_text() + "006Z,Prospecting,1,2025-01-01,10,2025-01-02T09:00:00.000+0000\r\n")
    r = run(store, [opp, hist])
    assert r.status == "rejected"
    assert [(e.file, e.row, e.column, e.value) for e in r.errors] == [
        ("OpportunityHistory.csv", 29, "OpportunityId", "006Z")]
    assert store.scalar("SELECT count(*) FROM deals") == 0


def test_custom_stages_rejected_listing_each_name_then_imported_with_a_profile(store, tmp_path):
    path = crm_exports.salesforce_spanish(tmp_path)
    r = run(store, [path], preset("salesforce"))
    assert r.status == "rejected"
    unmapped = {e.value: e.reason for e in r.errors if e.reason.startswith("unmapped stage")}
    # decoded from Windows-1252, each with its count
    assert unmapped == {"Prospección": "unmapped stage name on 2 rows: map it to a stage 1–8, won or lost in the "
                                       "profile",
                        "Negociación": "unmapped stage name on 2 rows: map it to a stage 1–8, won or lost in the "
                                       "profile",
                        "Cerrada ganada": "unmapped stage name on 1 row: map it to a stage 1–8, won or lost in the "
                                          "profile"}
    assert "Negociación" in r.message and store.scalar("SELECT count(*) FROM deals") == 0

    profile_path = tmp_path / "es.toml"
    profile_path.write_text('preset = "salesforce"\ndecimal_mark = ","\ncurrency = "EUR"\n'
                            '[columns]\naccount = "Nombre de la cuenta"\n'
                            '[stages]\n"Prospección" = 1\n"Negociación" = 7\n"Cerrada ganada" = "won"\n'
                            '[rates]\nUSD = 0.9\n', encoding="utf-8")
    profile = load_profile(str(profile_path), tmp_path / "profiles")
    r = run(store, [path], profile)
    assert r.status == "imported", r.errors
    rows = {d: (a, amt, cur, created) for d, a, amt, cur, created in store.fetchall(
        "SELECT deal_id, account, amount, currency, created_at FROM deals")}
    assert rows["E1"] == ("Cía Ñandú", 1000.5, "EUR", date(2025, 1, 6))  # D/M/Y inferred from 20/03/2025
    assert rows["E2"][1:3] == (pytest.approx(1800.0), "EUR")  # USD 2,000.00 × 0.9
    assert json.loads(store.scalar("SELECT extra FROM deals WHERE deal_id = 'E2'"))["currency_original"] == "USD"
    assert stages_of(store) == {"E1": [1], "E2": [7], "E3": [7], "E4": [8], "E5": [1]}


def test_missing_exchange_rate_lists_the_currency(store, tmp_path):
    path = crm_exports.salesforce_spanish(tmp_path)
    profile = mapping_with(preset("salesforce"), {"Prospección": 1, "Negociación": 7, "Cerrada ganada": "won"})
    from dataclasses import replace
    profile = replace(profile, decimal_mark=",", currency="EUR",
                      columns={**profile.columns, "account": ("Nombre de la cuenta",)})
    r = run(store, [path], profile)
    assert r.status == "rejected"
    assert [(e.value, e.reason) for e in r.errors] == [
        ("USD", "no exchange rate for USD (1 deals): add rates.USD (1 USD = ? EUR) to the profile")]


# HubSpot ---------------------------------------------------------------------------------------------------------
def test_hubspot_detected_and_imported(store, tmp_path):
    path = crm_exports.hubspot(tmp_path)
    assert detect_preset(read_export([path])[0][0].header) == "hubspot"
    r = run(store, [path])
    assert r.status == "imported", r.errors
    assert stages_of(store) == {"101": [1, 3, 5, 6, 7, 8], "102": [1, 3], "103": [1, 3, 5], "104": [6]}
    assert histories(store)["101"][-1] == (8, datetime(2025, 3, 17, 16))
    f = facts(store)
    assert f["102"][:2] == ("lost", 3) and f["104"][2] is True and f["101"][0] == "won"
    # the default pipeline has no counterpart for stages 2 and 4: a won deal passes them unobserved
    assert f["101"][3] == [2, 4]
    funnel = compute_funnel(store)
    assert [s.reached for s in funnel.stages] == [4, 4, 4, 3, 3, 2, 1, 1]
    # a row counts once per stage name, though Deal Stage and its Date entered column both carry it
    census = {s.label: s.rows for s in convert_export(read_export([path])[0]).stages}
    assert census == {"Appointment Scheduled (Sales Pipeline)": 3, "Qualified To Buy (Sales Pipeline)": 3,
                      "Presentation Scheduled (Sales Pipeline)": 2, "Decision Maker Bought-In (Sales Pipeline)": 2,
                      "Contract Sent (Sales Pipeline)": 1, "Closed Won (Sales Pipeline)": 1,
                      "Closed Lost (Sales Pipeline)": 1}


def test_hubspot_second_pipeline_with_a_custom_stage(store, tmp_path):
    path = crm_exports.hubspot(tmp_path, partner_pipeline=True)
    r = run(store, [path])
    assert r.status == "rejected"
    assert [(e.value, e.reason.split(":")[0]) for e in r.errors] == [
        ("Discovery (Partner Pipeline)", "unmapped stage name on 1 row")]
    r = run(store, [path], mapping_with(preset("hubspot"), {"Discovery (Partner Pipeline)": 2}))
    assert r.status == "imported", r.errors
    # "Closed Won (Partner Pipeline)" falls back to the bare "Closed Won" mapping
    assert stages_of(store)["105"] == [2, 8]


def test_bad_value_reported_at_source_file_row_and_column(store, tmp_path):
    path = crm_exports.hubspot(tmp_path)
    text = path.read_text().replace("Cobalt", "Cobalt").replace(",800,", ",eight hundred,")
    path.write_text(text)
    r = run(store, [path])
    assert r.status == "rejected"
    assert [(e.file, e.row, e.column, e.value) for e in r.errors] == [
        ("hubspot-crm-exports-all-deals.csv", 4, "Amount", "eight hundred")]
    r = run(store, [path], skip_invalid=True)
    assert r.status == "imported" and r.deals_inserted == 3
    assert store.fetchall('SELECT file, "row", "column", value FROM rejected_rows') == [
        ("hubspot-crm-exports-all-deals.csv", 4, "Amount", "eight hundred")]


# Dynamics 365 ----------------------------------------------------------------------------------------------------
def test_dynamics365_detected_and_imported(store, tmp_path):
    path = crm_exports.dynamics365(tmp_path)
    r = run(store, [path])
    assert r.status == "imported", r.errors
    assert r.format == "dynamics365"
    assert histories(store) == {
        "a1f0c7e2-0001": [(7, datetime(2025, 3, 20)), (8, datetime(2025, 3, 20))],
        "a1f0c7e2-0002": [(5, datetime(2025, 2, 28))],
        "a1f0c7e2-0003": [(1, datetime(2025, 2, 14, 11))],
        "a1f0c7e2-0004": [(3, datetime(2025, 3, 1, 10))],
    }
    deals = {r[0]: r[1:] for r in store.fetchall(
        "SELECT deal_id, outcome, amount, closed_at, expected_close, lost_reason, created_at FROM deals")}
    assert deals["a1f0c7e2-0001"][:3] == ("won", 1200.0, date(2025, 3, 20))
    assert deals["a1f0c7e2-0002"][0] == "lost" and deals["a1f0c7e2-0002"][4] == "Out-Sold"
    assert deals["a1f0c7e2-0003"][3] == date(2025, 6, 30) and deals["a1f0c7e2-0003"][5] == date(2025, 2, 1)
    assert facts(store)["a1f0c7e2-0004"][2] is True and facts(store)["a1f0c7e2-0003"][2] is False


# Snapshot series -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["one file per date", "one file with a snapshot_date column"])
def test_snapshots_derive_history(store, tmp_path, layout):
    paths = (crm_exports.snapshot_files(tmp_path) if layout == "one file per date"
             else [crm_exports.snapshot_single_file(tmp_path)])
    profile = None if len(paths) == 1 else preset("snapshots")
    r = run(store, paths, profile)
    assert r.status == "imported", r.errors
    assert r.stage_events == 8
    assert histories(store) == {
        "S1": [(2, datetime(2025, 1, 31)), (4, datetime(2025, 2, 28)), (3, datetime(2025, 3, 31))],
        "S2": [(1, datetime(2025, 1, 31)), (8, datetime(2025, 3, 31))],
        "S3": [(5, datetime(2025, 2, 28))],
        "S4": [(1, datetime(2025, 1, 31)), (2, datetime(2025, 2, 28))],
    }
    # S1 jumped from 2 to 4 between two snapshots: 3 counts as skipped, though it came back to it later
    assert facts(store) == {"S1": ("open", 4, True, [3], True), "S2": ("won", 8, False, [2, 3, 4, 5, 6, 7], False),
                            "S3": ("lost", 5, True, [], False), "S4": ("open", 2, False, [], False)}
    assert store.fetchall("SELECT deal_id, amount, closed_at FROM deals ORDER BY 1") == [
        ("S1", 150.0, None), ("S2", 200.0, date(2025, 3, 31)), ("S3", 300.0, date(2025, 3, 31)),
        ("S4", 400.0, None)]
    # each snapshot's amount, kept where it changed: S1 100 then 150, and each other deal's one amount
    assert r.field_changes == 5
    assert store.fetchall("SELECT changed_at, amount FROM deal_changes WHERE deal_id = 'S1' ORDER BY 1") == [
        (datetime(2025, 1, 31), 100.0), (datetime(2025, 3, 31), 150.0)]


# Dates, profiles ------------------------------------------------------------------------------------------------
def test_ambiguous_dates_reject_until_the_profile_says(store, tmp_path):
    from dataclasses import replace

    path = crm_exports.dynamics365(tmp_path)
    path.write_text(path.read_text().replace("1/20/2025", "1/2/2025"))
    for day in ("3/20/2025", "2/28/2025", "3/31/2025", "3/15/2025", "6/30/2025", "5/31/2025", "2/14/2025",
                "2/15/2025", "1/10/2025"):
        path.write_text(path.read_text().replace(day, "1/1/2025"))
    r = run(store, [path])
    assert r.status == "rejected" and "set date_order to MDY or DMY" in r.errors[0].reason
    r = run(store, [path], replace(preset("dynamics365"), date_order="MDY"))
    assert r.status == "imported", r.errors


def test_profiles_save_list_load_and_validate(tmp_path):
    folder = tmp_path / "profiles"
    profile = mapping_with(preset("salesforce"), {"Negociación": 7})
    from dataclasses import replace
    path = save_profile(replace(profile, name="acme"), folder)
    assert path.name == "acme.json"
    loaded = load_profile("acme", folder)
    assert loaded.stage_for("negociación") == 7 and loaded.stage_for("Closed Won") == "won"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"preset": "salesforce", "stages": {"Fase X": 9}}))
    with pytest.raises(ProfileError, match=r"bad.json: stages.'Fase X' = 9: map a stage to 1–8"):
        load_profile(str(bad), folder)
    with pytest.raises(ProfileError, match="no profile 'nope'"):
        load_profile("nope", folder)
    with pytest.raises(ProfileError, match="profile name"):
        save_profile(replace(profile, name="../escape"), folder)


def test_conversion_census_lists_every_stage_name_with_its_count(tmp_path):
    tables, _ = read_export(list(crm_exports.salesforce(tmp_path)))
    c = convert_export(tables)
    assert [(s.label, s.rows, s.target) for s in c.stages] == [
        ("Prospecting", 4, 1), ("Qualification", 6, 2), ("Needs Analysis", 4, 3), ("Value Proposition", 2, 4),
        ("Id. Decision Makers", 2, 5), ("Perception Analysis", 2, 6), ("Proposal/Price Quote", 4, 6),
        ("Negotiation/Review", 3, 7), ("Closed Won", 2, "won"), ("Closed Lost", 2, "lost")]


def test_gbk_snapshot_with_chinese_headers_and_a_close_before_creation(store, tmp_path):
    from tests.conftest import write_csv

    header = ["商机编号", "客户", "金额", "创建日期", "关闭日期", "阶段", "快照日期"]
    rows = [["商机-1", "华东电力集团", "1,000", "2025-01-05", "", "方案演示与技术交流", "2025-01-31"],
            ["商机-1", "华东电力集团", "1,000", "2025-01-05", "2024-12-30", "赢单", "2025-02-28"]]
    path = write_csv(tmp_path / "快照.csv", header, rows, encoding="gbk")
    r = run(store, [path])
    assert r.status == "imported", r.errors
    assert r.format == "snapshots"
    assert stages_of(store) == {"商机-1": [4, 8]}
    assert store.fetchone("SELECT account, outcome, closed_at FROM deals") == ("华东电力集团", "won", date(2024, 12, 30))
    # possible but suspicious: a warning at the source file's row and column, not an error
    assert [(w.file, w.row, w.column, w.reason) for w in r.warnings if w.column == "关闭日期"] == [
        ("快照.csv", 3, "关闭日期", "closed before it was created")]


def test_a_snapshot_series_keeps_a_deal_lost_then_reopened(store, tmp_path):
    """R is lost in the February snapshot and at stage 3 again in March: its outcome changes are kept (lost on
    02-28, open on 03-31) and the waterfall between the two counts it as reopened; the other deals, never reopened,
    record no outcome change."""
    from analytics.analyses.waterfall import compute_waterfall

    rows = [["R", "Rho", "500", "2025-01-02", "2", "2025-01-31"], ["S", "Sig", "50", "2025-01-03", "1", "2025-01-31"],
            ["R", "Rho", "500", "2025-01-02", "lost", "2025-02-28"], ["S", "Sig", "50", "2025-01-03", "2", "2025-02-28"],
            ["R", "Rho", "500", "2025-01-02", "3", "2025-03-31"], ["S", "Sig", "50", "2025-01-03", "lost", "2025-03-31"]]
    path = crm_exports.write_csv(tmp_path / "snapshots.csv", [*crm_exports.SNAPSHOT_HEADER, "snapshot_date"], rows)
    r = run(store, [path])
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, outcome, CAST(changed_at AS DATE) FROM deal_changes WHERE field = 'outcome' "
                          "ORDER BY changed_at") == [("R", "open", date(2025, 1, 31)), ("R", "lost", date(2025, 2, 28)),
                                                     ("R", "open", date(2025, 3, 31))]
    assert store.scalar("SELECT outcome FROM deals WHERE deal_id = 'R'") == "open"
    w = compute_waterfall(store, date(2025, 3, 1), date(2025, 4, 1))
    assert {b.bucket: b.deal_ids for b in w.buckets if b.deals} == {"reopened": ["R"], "lost": ["S"]}
