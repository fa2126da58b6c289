"""Targets, teams and forecast calls: imported all or nothing, attainment and its roll-ups, calls scored against the
actual. Every figure below is worked out by hand from the deals, targets and calls written here.

Three owners: Ann and Bob in team North, Cy in team South. Quarter 2026Q4, standing at the end of 2026-11-15:
  Ann  won 300 (10-10) and 200 (11-01); open O1 400 expected 12-15 (in the quarter), O2 1,000 expected 2027-02-01
  Bob  won 100 (10-20); open O3 500 expected 12-01
  Cy   won 600 (11-05)
Earlier: Ann won 500 in 2026Q2 and 600 in 2026Q3; Bob lost in Q2 (booked 0) and won 300 in Q3; Cy won in 2025Q4 and
lost in Q3; Bob lost in 2026Q1. No deal was created and won in the same quarter, so no new deals are forecast.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from analytics.cli import main
from analytics.forecasting.attainment import attainment, unit_draws
from analytics.forecasting.calls import call_accuracy
from analytics.ingest.batches import undo_batch
from analytics.ingest.canonical import import_files
from analytics.ingest.plans import add_call, import_plans
from analytics.store.plans import (
    active_targets,
    forecast_calls,
    normalise_period,
    quarter_targets,
    teams,
)

from .conftest import write_csv

#        deal  owner  region  amount created       expected      closed        outcome
DEALS = [("A1", "Ann", "East", 500, "2026-01-05", "2026-05-10", "2026-05-10", "won"),
         ("A2", "Ann", "East", 600, "2026-03-01", "2026-08-10", "2026-08-10", "won"),
         ("W1", "Ann", "East", 300, "2026-06-01", "2026-10-10", "2026-10-10", "won"),
         ("W2", "Ann", "East", 200, "2026-06-15", "2026-11-01", "2026-11-01", "won"),
         ("O1", "Ann", "East", 400, "2026-07-01", "2026-12-15", "", "open"),
         ("O2", "Ann", "East", 1000, "2026-08-01", "2027-02-01", "", "open"),
         ("B1", "Bob", "West", 200, "2026-01-10", "2026-05-01", "2026-05-01", "lost"),
         ("B2", "Bob", "West", 300, "2026-02-01", "2026-07-20", "2026-07-20", "won"),
         ("W3", "Bob", "West", 100, "2026-05-01", "2026-10-20", "2026-10-20", "won"),
         ("O3", "Bob", "West", 500, "2026-06-01", "2026-12-01", "", "open"),
         ("W4", "Cy", "West", 600, "2026-04-01", "2026-11-05", "2026-11-05", "won"),
         ("C1", "Cy", "West", 250, "2026-03-15", "2026-09-01", "2026-09-01", "lost"),
         ("Z1", "Cy", "West", 150, "2025-09-01", "2025-12-10", "2025-12-10", "won"),
         ("Z2", "Bob", "West", 120, "2025-11-01", "2026-02-10", "2026-02-10", "lost")]
AS_OF = "2026-11-15"
TARGETS = [["2026Q4", "Ann", "North", "", "800"], ["2026Q4", "Bob", "North", "", "1000"],
           ["2026Q4", "Cy", "South", "", "500"], ["2026Q4", "", "North", "", "2,000"],
           ["2026-10", "", "", "East", "300"], ["2026-11", "", "", "East", "200"]]
TARGET_HEADER = ["period", "owner", "team", "region", "target"]


def _shift(day: str, days: int) -> str:
    return str(np.datetime64(day) + np.timedelta64(days, "D"))


def load_deals(store, tmp_path):
    rows, history = [], []
    for deal, owner, region, amount, created, expected, closed, outcome in DEALS:
        rows.append([deal, f"Account {deal}", owner, region, amount, created, expected, closed, outcome])
        history.append([deal, 1, created])
        if outcome == "won":
            history += [[deal, 6, _shift(closed, -30)], [deal, 7, _shift(closed, -10)], [deal, 8, closed]]
        elif outcome == "lost":
            history.append([deal, 3, _shift(closed, -20)])
        else:
            history.append([deal, 6, "2026-11-01"])
    deals = write_csv(tmp_path / "deals.csv", ["deal_id", "account", "owner", "region", "amount", "created_at",
                                               "expected_close", "closed_at", "outcome"], rows)
    hist = write_csv(tmp_path / "history.csv", ["deal_id", "stage", "entered_at"], history)
    assert import_files(store, deals, hist).status == "imported"


@pytest.fixture
def planned(store, tmp_path):
    load_deals(store, tmp_path)
    result = import_plans(store, [write_csv(tmp_path / "targets.csv", TARGET_HEADER, TARGETS)])
    assert result.status == "imported", [e.to_json() for e in result.errors]
    return store


def test_periods_are_read_as_a_quarter_or_a_month():
    assert [normalise_period(p) for p in ("2026Q4", "2026-q4", "2026 Q4", "2026-11", "2026/1", "2026年11月",
                                          "2026-11-01", "2026Q5", "2026-13", "Q4", None)] == \
        ["2026Q4", "2026Q4", "2026Q4", "2026-11", "2026-01", "2026-11", "2026-11", None, None, None, None]


def test_targets_and_teams_are_read_with_their_team_column(planned):
    assert teams(planned) == {"Ann": ("North", None), "Bob": ("North", None), "Cy": ("South", None)}
    assert quarter_targets(planned, "2026Q4", "owner") == {"Ann": 800, "Bob": 1000, "Cy": 500}
    assert quarter_targets(planned, "2026Q4", "team") == {"North": 2000}
    assert quarter_targets(planned, "2026Q4", "region") == {"East": 500}  # its two months, added
    assert len(active_targets(planned)) == 6


def test_attainment_by_owner_worked_by_hand(planned):
    result = attainment(planned, "2026Q4", np.datetime64(AS_OF).item(), by="owner")
    rows = {(r.kind, r.unit): r for r in result.rows}
    assert [(r.kind, r.unit) for r in result.rows] == [
        ("owner", "Ann"), ("owner", "Bob"), ("team", "North"), ("owner", "Cy"), ("team", "South"), ("all", "all")]
    ann, bob, cy = rows["owner", "Ann"], rows["owner", "Bob"], rows["owner", "Cy"]
    assert (ann.target, ann.won, ann.open_pipeline) == (800, 500, 400)  # O2 closes after the quarter
    assert ann.attainment == pytest.approx(500 / 800) and ann.coverage == pytest.approx(400 / (800 - 500))
    assert (bob.target, bob.won, bob.open_pipeline) == (1000, 100, 500)
    assert bob.attainment == pytest.approx(0.1) and bob.coverage == pytest.approx(500 / 900)
    assert bob.p_reach_target == 0.0  # 100 won + every open deal of his (500) is short of 1,000
    assert (cy.won, cy.attainment, cy.coverage, cy.p_reach_target) == (600, pytest.approx(1.2), None, 1.0)
    assert cy.p10 == cy.p50 == cy.p90 == 600  # nothing open, nothing new: the won amount
    north, south, whole = rows["team", "North"], rows["team", "South"], rows["all", "all"]
    assert (north.target, north.won, north.open_pipeline) == (2000, 600, 900)  # its own target row
    assert north.coverage == pytest.approx(900 / 1400) and north.rollup
    assert (south.target, south.won, south.p_reach_target) == (500, 600, 1.0)  # no row: Cy's target
    assert (whole.target, whole.won, whole.open_pipeline) == (2500, 1200, 900)
    assert whole.attainment == pytest.approx(0.48) and whole.coverage == pytest.approx(900 / 1300)
    # a roll-up's P(reach) is the share of draws in which its units together reach the target
    sim = unit_draws(planned, "2026Q4", np.datetime64(AS_OF).item(), by="owner")
    together = sim.column("Ann") + sim.column("Bob")
    assert north.p_reach_target == pytest.approx(float((together >= 2000).mean()))
    assert north.p50 == pytest.approx(float(np.percentile(together, 50)))
    assert ann.p_reach_target == pytest.approx(float((sim.column("Ann") >= 800).mean()))
    assert 0 < ann.p_reach_target < 1
    assert whole.p50 >= whole.won and whole.p90 <= whole.won + 400 + 1000 + 500


def test_attainment_by_team_and_region(planned):
    by_team = attainment(planned, "2026Q4", np.datetime64(AS_OF).item(), by="team")
    assert [(r.unit, r.target, r.won) for r in by_team.rows] == [("North", 2000, 600), ("South", 500, 600),
                                                                ("all", 2500, 1200)]
    by_region = attainment(planned, "2026Q4", np.datetime64(AS_OF).item(), by="region")
    east = next(r for r in by_region.rows if r.unit == "East")
    assert (east.target, east.won, east.attainment, east.open_pipeline) == (500, 500, 1.0, 400)
    assert east.coverage is None and east.p_reach_target == 1.0  # met: nothing remains to cover


def test_the_forecast_and_the_attainment_whole_are_one_simulation(planned):
    from analytics.forecasting.forecast import forecast_quarter

    f = forecast_quarter(planned, "2026Q4", np.datetime64(AS_OF).item())
    whole = attainment(planned, "2026Q4", np.datetime64(AS_OF).item()).whole
    assert (whole.p10, whole.p50, whole.p90) == (f.p10, f.p50, f.p90)  # every deal drawn: the same draws


BAD = [
    ("unknown owner", ["2026Q4", "Dan", "", "", "100"], "owner", "Dan", "no deal has this owner"),
    ("negative target", ["2026Q4", "Ann", "", "", "-5"], "target", "-5", "amount must not be negative"),
    ("non-numeric target", ["2026Q4", "Ann", "", "", "lots"], "target", "lots", "not an amount"),
    ("duplicate", ["2026Q4", "Bob", "", "", "900"], "owner", "Bob",
     "a second target for 2026Q4 and this unit (the first is on row 2)"),
    ("bad period", ["Q4 2026", "Ann", "", "", "100"], "period", "Q4 2026", "not a period"),
    ("no unit", ["2026Q4", "", "", "", "100"], "owner", None, "each row needs one of owner, team, region"),
    ("unknown region", ["2026Q4", "", "", "Mars", "100"], "region", "Mars", "no deal is in this region"),
]


@pytest.mark.parametrize("case, bad, column, value, reason", BAD, ids=[b[0] for b in BAD])
def test_a_bad_targets_file_is_rejected_with_the_cell_named_and_nothing_written(store, tmp_path, case, bad, column,
                                                                                 value, reason):
    load_deals(store, tmp_path)
    before = store.scalar("SELECT count(*) FROM import_batches")
    path = write_csv(tmp_path / "targets.csv", TARGET_HEADER, [["2026Q4", "Bob", "", "", "1000"], bad])
    result = import_plans(store, [path])
    assert result.status == "rejected"
    assert [(e.file, e.row, e.column, e.value) for e in result.errors] == [("targets.csv", 3, column, value)]
    assert result.errors[0].reason.startswith(reason)
    assert store.scalar("SELECT count(*) FROM targets") == 0 and store.scalar(
        "SELECT count(*) FROM import_batches") == before


def test_the_same_file_again_changes_nothing_and_undo_restores_the_earlier_targets(planned, tmp_path):
    again = import_plans(planned, [tmp_path / "targets.csv"])
    assert again.status == "unchanged"
    newer = write_csv(tmp_path / "targets2.csv", TARGET_HEADER, [["2026Q4", "Ann", "", "", "900"]])
    result = import_plans(planned, [newer])
    assert result.status == "imported" and result.message == f"batch {result.batch_id}: 1 target added"
    assert quarter_targets(planned, "2026Q4", "owner")["Ann"] == 900
    undo_batch(planned, result.batch_id)
    assert quarter_targets(planned, "2026Q4", "owner")["Ann"] == 800


def test_a_teams_file_and_an_owner_in_two_teams(store, tmp_path):
    load_deals(store, tmp_path)
    path = write_csv(tmp_path / "teams.csv", ["负责人", "团队", "经理"],
                     [["Ann", "North", "Mia"], ["Bob", "North", "Mia"], ["Ann", "South", "Mia"]])
    result = import_plans(store, [path])
    assert [(e.row, e.column, e.value) for e in result.errors] == [(4, "team", "South")]
    assert "Ann is already in team North (teams.csv, row 2)" in result.errors[0].reason
    path = write_csv(tmp_path / "teams.csv", ["负责人", "团队", "经理"], [["Ann", "North", "Mia"], ["Cy", "South", ""]])
    assert import_plans(store, [path]).status == "imported"
    assert teams(store) == {"Ann": ("North", "Mia"), "Cy": ("South", None)}


CALLS = [["2026Q2", "Ann", "400", "500", "2026-03-30"], ["2026Q2", "Bob", "100", "150", "2026-03-30"],
         ["2026Q3", "Ann", "660", "700", "2026-06-29"], ["2026Q3", "Bob", "240", "360", "2026-06-29"],
         ["2026Q3", "Ann", "580", "650", "2026-07-20"]]


def test_call_accuracy_and_bias_worked_by_hand(planned, tmp_path):
    path = write_csv(tmp_path / "calls.csv", ["period", "owner", "commit", "best_case", "called_at"], CALLS)
    assert import_plans(planned, [path]).status == "imported"
    result = call_accuracy(planned)
    ann = [p for p in result.points if p.unit == "Ann"]
    # Q2: the one call (400) at every week; Q3: 660 before the quarter, then 580 (made 07-20, before week 4's count)
    assert [(p.quarter, p.week, p.commit) for p in ann] == [
        ("2026Q2", 1, 400), ("2026Q2", 4, 400), ("2026Q2", 8, 400), ("2026Q2", 12, 400),
        ("2026Q3", 1, 660), ("2026Q3", 4, 580), ("2026Q3", 8, 580), ("2026Q3", 12, 580)]
    assert [p.call_accuracy for p in ann] == pytest.approx([0.8] * 4 + [0.9] + [1 - 20 / 600] * 3)
    assert [p.in_range for p in ann] == [True] * 4 + [False] + [True] * 3
    for p in result.points:  # the model's P50 is scored by the same formula
        assert p.model_accuracy == (None if p.actual == 0 else pytest.approx(
            max(0.0, 1 - abs(p.actual - p.model_p50) / p.actual)))
    by = {r.unit: r for r in result.by_unit}
    assert by["Ann"].call_accuracy == pytest.approx(7.0 / 8)
    assert by["Ann"].call_bias == pytest.approx(-0.1)  # quarters' mean biases −0.2 and 0.0
    assert by["Ann"].bias_verdict == "balanced" and by["Ann"].in_range_share == 7 / 8
    # Bob booked nothing in Q2: no accuracy there (it would divide by 0), and one quarter is too few for a verdict
    assert by["Bob"].call_accuracy == pytest.approx(0.8) and by["Bob"].call_bias == pytest.approx(-0.2)
    assert (by["Bob"].bias_verdict, by["Bob"].in_range_share, by["Bob"].quarters) == ("too-few", 0.5, 2)
    team = by["all"]  # the two owners' calls and actuals added at each point
    assert team.call_accuracy == pytest.approx((5 + 3 * (1 - 80 / 900)) / 8)
    assert team.call_bias == pytest.approx((0 + (-3 * 80 / 900) / 4) / 2)
    assert team.in_range_share == 1.0
    t = 12.706204736174698  # Student's t, 1 degree of freedom, 97.5%
    sd = np.std([0, -3 * 80 / 900 / 4], ddof=1)
    assert team.call_bias_ci == pytest.approx((team.call_bias - t * sd / np.sqrt(2), team.call_bias + t * sd / np.sqrt(2)))


def test_a_call_typed_in_supersedes_and_the_history_stays(planned):
    first = add_call(planned, "2026Q4", "owner", "Ann", 700, 900, called_at=np.datetime64("2026-10-01").item())
    second = add_call(planned, "2026q4", "owner", "Ann", 750, 850, note="  ", entered_by="mia")
    calls = forecast_calls(planned, "2026Q4")
    assert [(c.call_id, c.commit, c.superseded, c.note) for c in calls] == [(first, 700, True, None),
                                                                          (second, 750, False, None)]
    from analytics.exceptions import InputError

    with pytest.raises(InputError, match="best case is below the commit"):
        add_call(planned, "2026Q4", "owner", "Ann", 900, 800)
    with pytest.raises(InputError, match="no deal has the owner Dan"):
        add_call(planned, "2026Q4", "owner", "Dan", 1, 2)
    with pytest.raises(InputError, match="a call is for a quarter"):
        add_call(planned, "2026-11", "owner", "Ann", 1, 2)
    assert len(forecast_calls(planned)) == 2


def test_the_cli_imports_targets_and_prints_attainment_as_json(planned, tmp_path, capsys):
    db = str(tmp_path / "kf.duckdb")
    planned.close()
    assert main(["--db", db, "attainment", "--quarter", "2026Q4", "--as-of", AS_OF, "--by", "team", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["unit"], r["target"], r["won"]) for r in out["rows"]] == [("North", 2000, 600), ("South", 500, 600),
                                                                        ("all", 2500, 1200)]
    assert out["coverage_formula"].startswith("open pipeline")
    bad = write_csv(tmp_path / "bad.csv", TARGET_HEADER, [["2026Q4", "Ann", "", "", "x"]])
    assert main(["--db", db, "targets", "import", str(bad)]) == 1
    assert "bad.csv, row 2, column target: value 'x': not an amount" in capsys.readouterr().out
    assert main(["--db", db, "call", "add", "--quarter", "2026Q4", "--owner", "Bob", "--commit", "400",
                 "--best-case", "600", "--by", "mia"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "calls", "--quarter", "2026Q4", "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)["calls"]
    assert [(c["unit"], c["commit"], c["entered_by"]) for c in calls] == [("Bob", 400, "mia")]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """3,000 generated deals over four years, with the generator's targets, teams and biased calls."""
    from analytics.sample import SampleParameters, write_sample
    from analytics.store.connection import Store

    out = tmp_path_factory.mktemp("plans-sample")
    truth = write_sample(out, SampleParameters(deals=3000, seed=11, as_of="2026-11-27"))
    store = Store(out / "kf.duckdb")
    assert import_files(store, out / "deals.csv", out / "stage_history.csv").status == "imported"
    assert import_plans(store, [out / "teams.csv", out / "targets.csv", out / "calls.csv"]).status == "imported"
    yield store, truth
    store.close()


def test_p_reach_target_is_calibrated_over_66_owner_quarters(generated):
    """Each owner's P(reach target) standing the day before each of the last six closed quarters (11 owners: 66
    owner-quarters), against whether the quarter reached it. Calibrated: the share that reached the target and the
    mean predicted P(reach) differ by less than 3 standard errors, sqrt(Σ p(1 − p)) / n, the spread of that share
    were the predictions exact and the owner-quarters independent. And it discriminates: its Brier score beats
    always saying the base rate. (Measured: mean P(reach) 0.394, share reached 0.394; Brier 0.140 against 0.239.)"""
    from datetime import timedelta

    from analytics.filters import quarter_bounds
    from analytics.forecasting.forecast import shift_quarter, won_in

    store, _ = generated
    predicted, reached = [], []
    for k in range(1, 7):
        quarter = shift_quarter("2026Q4", -k)
        q_start, q_end = quarter_bounds(quarter)
        result = attainment(store, quarter, q_start - timedelta(days=1), by="owner", draws=4000)
        won = won_in(store, q_start, q_end)
        actual = won.groupby("owner")["amount"].sum()
        for r in result.rows:
            if r.kind == "owner" and r.target is not None:
                predicted.append(r.p_reach_target)
                reached.append(float(actual.get(r.unit, 0.0)) >= r.target)
    p, hit = np.array(predicted), np.array(reached, dtype=float)
    assert len(p) >= 40
    standard_error = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(hit.mean() - p.mean()) < 3 * standard_error, (hit.mean(), p.mean(), standard_error)
    assert ((p - hit) ** 2).mean() < ((hit.mean() - hit) ** 2).mean()


def test_the_generators_over_callers_and_sandbaggers_are_found(generated):
    """The generator gives owner k the call bias CALL_BIAS[k % 4] (−0.2, 0, +0.1, +0.3): every sandbagger
    (−0.2) and every over-caller (+0.3) is named so, and none the opposite."""
    store, truth = generated
    result = call_accuracy(store)
    bias = truth["plans"]["call_bias"]
    verdicts = {r.unit: r.bias_verdict for r in result.by_unit if r.unit_kind == "owner"}
    assert set(verdicts) == set(bias)
    for owner, verdict in verdicts.items():
        if bias[owner] == -0.2:
            assert verdict == "sandbags", owner
        if bias[owner] == 0.3:
            assert verdict == "over-calls", owner
        if bias[owner] < 0:
            assert verdict != "over-calls", owner
    # the last eight closed quarters (CALL_QUARTERS); an owner who booked nothing in one made no call for it
    assert {r.quarters for r in result.by_unit if r.unit_kind == "owner"} <= {6, 7, 8}
    assert max(r.quarters for r in result.by_unit) == 8


def test_a_targets_workbook_imports_as_its_csv_would(store, tmp_path):
    import openpyxl

    load_deals(store, tmp_path)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Q4 targets"])  # a title above the table, as people write them
    sheet.append([])
    sheet.append(TARGET_HEADER)
    sheet.append(["2026Q4", "Ann", "North", None, 800])
    sheet.append(["2026Q4", "Bob", "North", None, "lots"])
    book.save(tmp_path / "targets.xlsx")
    result = import_plans(store, [tmp_path / "targets.xlsx"])
    assert [(e.file, e.row, e.column, e.value) for e in result.errors] == [("targets.xlsx", 5, "target", "lots")]
    sheet.delete_rows(5)
    book.save(tmp_path / "targets.xlsx")
    assert import_plans(store, [tmp_path / "targets.xlsx"]).status == "imported"
    assert quarter_targets(store, "2026Q4", "owner") == {"Ann": 800} and teams(store) == {"Ann": ("North", None)}


def test_attainment_under_the_sidebars_as_of_date_is_that_days(planned):
    """The sidebar's as-of date views the data as it stood (Store.as_of): attainment then is that day's, not the
    simulation kept for today."""
    from datetime import date

    today = {r.unit: r.won for r in attainment(planned).rows}
    assert today["Ann"] == 500
    with planned.as_of(date(2026, 10, 16)):  # W1 (10-10) was won by then; W2, W3 and W4 were not
        then = attainment(planned)
    assert then.as_of == date(2026, 10, 10) and {r.unit: r.won for r in then.rows}["Ann"] == 300
    assert {r.unit: r.won for r in then.rows}["Cy"] == 0
