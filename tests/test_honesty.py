"""Saying when the data cannot answer: current-stage-only exports, stages never observed, a stage-8 rule."""

from __future__ import annotations

import json

import pytest

from analytics.analyses.claim import NOT_ESTIMABLE
from analytics.analyses.claim import (
    test_claim as claim_of,  # (named so that pytest does not collect it)
)
from analytics.analyses.funnel import compute_funnel, estimability
from analytics.ingest.canonical import import_files


def _current_stage_only(store, csv_writer, lost_stage: str = "7"):
    """Twenty won and thirty lost deals, each with one event: its current stage (every lost one at `lost_stage`)."""
    deals = [[f"W{i}", "2025-01-01", "2025-06-01", "won"] for i in range(20)] + [
        [f"L{i}", "2025-01-01", "2025-06-01", "lost"] for i in range(30)]
    history = [[f"W{i}", "8", "2025-06-01"] for i in range(20)] + [
        [f"L{i}", lost_stage, "2025-06-01"] for i in range(30)]
    r = import_files(store, csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], deals),
                     csv_writer("h.csv", ["deal_id", "stage", "entered_at"], history))
    assert r.status == "imported", r.errors


def test_a_current_stage_only_export_is_not_estimable(store, csv_writer):
    _current_stage_only(store, csv_writer)
    known = estimability(store)
    assert (known.estimable, known.lost_stage) == (False, 7)
    funnel, claim = compute_funnel(store), claim_of(store)
    assert json.loads(json.dumps(funnel.to_json(), default=str))["estimable"] is False
    assert funnel.to_json()["not_estimable_reason"].startswith("current stage only")
    # 20 won of 50 "reached 7": it would have read "contradicted" at 40%, which is only the overall win rate
    assert (claim.overall.won, claim.overall.resolved, claim.overall.verdict) == (20, 50, NOT_ESTIMABLE)
    assert claim.to_json()["estimable"] is False
    assert {s.test.verdict for s in claim.segments} == {NOT_ESTIMABLE} == {claim.comparison.verdict}


def test_a_salesforce_export_without_history_is_not_estimable(store, csv_writer):
    """Closed Lost maps to no stage: every loss lands at stage 1 and every win passes every stage. It read
    'Supported: all resolved deals that reached stage 7 were won'."""
    from analytics.ingest.crm.load import import_export, read_export

    rows = [[f"0W{i}", "Closed Won", "10", "2025-03-01", "2025-01-01", "true", "true"] for i in range(25)] + [
        [f"0L{i}", "Closed Lost", "10", "2025-03-01", "2025-01-01", "true", "false"] for i in range(25)]
    path = csv_writer("Opportunity.csv", ["Id", "StageName", "Amount", "CloseDate", "CreatedDate", "IsClosed",
                                          "IsWon"], rows)
    r = import_export(store, *read_export([path]))
    assert r.status == "imported", r.errors
    claim = claim_of(store, segments=False)
    assert (claim.overall.won, claim.overall.resolved) == (25, 25) and claim.overall.verdict == NOT_ESTIMABLE
    assert estimability(store).lost_stage == 1


def test_a_history_is_estimable_and_stages_never_entered_are_named(store, csv_writer):
    """Deals with real histories that never pass through 2, 4 or 6 (HubSpot's default pipeline folds onto 1, 3, 5,
    6, 7): those stages' conversions are not observed, not 100%."""
    deals = [[f"D{i}", "2025-01-01", "2025-06-01", "won" if i % 2 else "lost"] for i in range(10)]
    history = []
    for i in range(10):
        history += [[f"D{i}", "1", "2025-01-01"], [f"D{i}", "3", "2025-02-01"]]
        history += [[f"D{i}", "5", "2025-03-01"], [f"D{i}", "7", "2025-04-01"]] if i % 2 else []
    import_files(store, csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], deals),
                 csv_writer("h.csv", ["deal_id", "stage", "entered_at"], history))
    known = estimability(store)
    assert known.estimable and known.unobserved_stages == (2, 4, 6)
    stages = compute_funnel(store).to_json()["stages"]
    assert [s["observed"] for s in stages] == [True, False, True, False, True, False, True, True]
    assert claim_of(store, segments=False).overall.verdict != NOT_ESTIMABLE


def test_a_deal_lost_after_signing_is_lost_at_7_in_the_funnel_and_the_claim_alike(store, csv_writer):
    """Three deals reach 7: one won, one lost at 7, one signed (8) and then lost. The claim said 1/3 while the
    funnel's stage-7 conversion said 2/3; stage 8 is signed and kept, so both say 1/3."""
    deals = csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], [
        ["L1", "2026-01-01", "2026-03-01", "won"], ["L2", "2026-01-01", "2026-03-01", "lost"],
        ["L3", "2026-01-01", "2026-04-01", "lost"]])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [
        ["L1", "7", "2026-02-01"], ["L1", "8", "2026-03-01"], ["L2", "7", "2026-02-01"],
        ["L3", "7", "2026-02-01"], ["L3", "8", "2026-03-01"]])
    r = import_files(store, deals, history)
    assert [(w.row, w.reason) for w in r.warnings if "reaches stage 8" in w.reason] == [
        (4, "lost, but the stage history reaches stage 8 (signed, then lost): counted as lost at stage 7")]
    funnel, claim = compute_funnel(store), claim_of(store, segments=False).overall
    assert (funnel.stage(7).reached, funnel.stage(7).lost_here, funnel.stage(8).reached) == (3, 2, 1)
    assert funnel.stage(7).conversion == funnel.stage(7).win_rate == 1 / 3
    assert (claim.won, claim.resolved) == (1, 3) and claim.p_hat == funnel.stage(7).win_rate


def test_a_backtest_that_refutes_its_range_is_said_above_it():
    from analytics.forecasting.backtest import (
        AccuracySummary,
        Backtest,
        BacktestQuarter,
    )

    def quarters(inside: list[bool]):
        return [BacktestQuarter(f"2025Q{i % 4 + 1}", 100, 80, 120, 100, 0, ok, 90) for i, ok in enumerate(inside)]

    def bt(inside, mape):
        return Backtest(quarters(inside), AccuracySummary(mape, None, None, sum(inside) / len(inside)),
                        AccuracySummary(None, None, None, None))

    assert bt([True] * 6 + [False] * 2, 0.15).refutes_range is False        # 75% inside: as nominal
    assert bt([False] * 8, 3.13).refutes_range is True                      # 0% inside, MAPE 313% (a real org's)
    assert bt([True] * 3 + [False] * 5, 0.2).refutes_range is True          # 3 of 8 inside
    assert bt([True] * 8, 0.8).refutes_range is True                        # inside, but off by 80% on average
    assert bt([False] * 3, 2.0).refutes_range is False                      # three quarters prove nothing yet
    assert bt([False] * 8, 3.13).to_json()["refutes_range"] is True


def test_a_sample_shorter_than_the_crm_adoption_has_every_deal_asked_for(tmp_path):
    """`keyfunnel sample --years 0.5` wrote 92 deals instead of 300, all open."""
    import pandas as pd

    from analytics.sample import SampleParameters, write_sample

    truth = write_sample(tmp_path, SampleParameters(deals=300, seed=3, as_of="2026-11-30", years=0.5))
    deals = pd.read_csv(tmp_path / "deals.csv")
    assert len(deals) == truth["counts"]["deals"] == 300
    assert deals["created_at"].max() <= "2026-11-30" and deals["created_at"].min() >= "2026-05-01"
    assert truth["counts"]["won"] + truth["counts"]["lost"] > 0


def test_deals_closed_before_they_were_created_are_left_out_of_cycle_time_and_counted(store, csv_writer):
    """18 of 36 deals in Salesforce's own sample close before they were created; velocity reported a median cycle
    time of −751 days."""
    from analytics.analyses.velocity import compute_velocity

    deals = csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], [
        ["C1", "2026-03-01", "2024-01-01", "lost"], ["C2", "2026-01-01", "2026-01-31", "lost"],
        ["C3", "2026-01-01", "2026-03-02", "lost"], ["C4", "2026-05-01", "2025-05-01", "lost"]])
    import_files(store, deals)
    v = compute_velocity(store)
    assert (v.cycle_lost.n, v.cycle_lost.median, v.closed_before_created) == (2, 45.0, 2)  # (30 + 60) / 2
    assert v.to_json()["closed_before_created"] == 2


def test_one_future_dated_close_does_not_move_the_as_of_date(store, csv_writer):
    """A close date typed as 2062 moved every page to a later quarter. It is warned about, and the as-of date is
    the latest date that is not after the import."""
    from datetime import date

    from analytics.analyses.funnel import data_as_of

    deals = csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], [
        ["F1", "2026-01-01", "2026-03-01", "won"], ["F2", "2026-02-01", "2062-03-01", "lost"]])
    r = import_files(store, deals)
    assert [(w.column, w.reason) for w in r.warnings if "future" in w.reason] == [
        ("closed_at", "closed_at after today on 1 row: in the export's future, kept, but not used to set the as-of date")]
    assert data_as_of(store) == date(2026, 3, 1)
    assert store.scalar("SELECT closed_at FROM deals WHERE deal_id = 'F2'") == date(2062, 3, 1)  # nothing lost


def test_the_model_says_plainly_whether_it_beats_the_stage_rate():
    from analytics.forecasting.validation import ModelReport, brier_gain, holm

    # Holm, by hand: 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, raised to 0.06 to stay monotone
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    y = [1, 0] * 10
    assert brier_gain(y, y, [0.5] * 20) == (0.25, (0.25, 0.25))  # perfect against a coin: 0.25 − 0 each
    gain, ci = brier_gain(y, [0.5] * 20, [0.5] * 20)
    assert gain == 0 and ci == (0, 0)
    assert brier_gain(y[:6], y[:6], [0.5] * 6) == (None, None)  # six test deals measure nothing

    def report(ci):
        return ModelReport([], [], None, "full", pooled_n_test=500, pooled_brier_gain=0.01, pooled_brier_gain_ci=ci)

    assert report((0.004, 0.016)).verdict == "better"
    assert report((-0.002, 0.022)).verdict == "no_better"
    assert report(None).verdict == "untested" and report(None).to_json()["verdict"] == "untested"


def test_calibration_is_tested_against_a_known_null():
    """Spiegelhalter's z, by hand: y = (1, 0, 1, 0), p = (0.9, 0.1, 0.6, 0.4): numerator Σ(y − p)(1 − 2p) =
    0.1·(−0.8) + (−0.1)·0.8 + 0.4·(−0.2) + (−0.4)·0.2 = −0.32; variance Σ(1 − 2p)²p(1 − p) = 2·0.64·0.09 +
    2·0.04·0.24 = 0.1344. Repeated 5 times (20 deals): z = −1.6 / √0.672."""
    import math

    import numpy as np

    from analytics.forecasting.validation import spiegelhalter

    z, p = spiegelhalter([1, 0, 1, 0] * 5, [0.9, 0.1, 0.6, 0.4] * 5)
    assert math.isclose(z, -1.6 / math.sqrt(0.672)) and math.isclose(p, math.erfc(abs(z) / math.sqrt(2)))
    rng = np.random.default_rng(1)
    q = rng.uniform(0.05, 0.95, 20_000)
    assert spiegelhalter(rng.random(20_000) < q, q)[1] > 0.01          # calibrated: no rejection (seeded)
    assert spiegelhalter(rng.random(20_000) < q, np.clip(q + 0.1, 0, 1))[1] < 1e-6  # 10 points too high
    assert spiegelhalter([1, 0], [0.9, 0.1]) == (None, None)


def test_clearing_the_demo_keeps_the_users_own_batch(store, csv_writer, tmp_path):
    """'Clear demo data' emptied every table: the user's own import with the demo's."""
    from analytics.ingest.demo import clear_demo_data, ensure_demo_data, is_demo

    demo = ensure_demo_data(store)
    assert demo.status == "imported" and is_demo(store)
    mine = import_files(store, csv_writer("mine.csv", ["deal_id", "account", "outcome"], [["MY1", "Acme", "open"]]))
    assert mine.status == "imported"
    clear_demo_data(store)
    assert not is_demo(store)
    assert store.fetchall("SELECT deal_id FROM deals") == [("MY1",)]
    # the demo's deals and its plans (targets, teams, calls: the batch after it) are undone; the user's stays
    assert store.fetchall("SELECT batch_id, status FROM import_batches ORDER BY 1") == [
        (demo.batch_id, "undone"), (demo.batch_id + 1, "undone"), (mine.batch_id, "imported")]
    assert store.scalar("SELECT count(*) FROM deal_facts") == 1
    assert [store.scalar(f"SELECT count(*) FROM {t}") for t in ("targets", "team_members", "forecast_calls")] == \
        [0, 0, 0]


def test_the_cli_clears_the_demo_before_a_users_import_unless_kept(tmp_path, capsys):
    from analytics.cli import main
    from analytics.ingest.demo import ensure_demo_data
    from analytics.store.connection import Store

    db = tmp_path / "demo.duckdb"
    with Store(db) as s:
        ensure_demo_data(s)
    (tmp_path / "mine.csv").write_text("deal_id,account,outcome\nMY1,Acme,open\n", encoding="utf-8")
    assert main(["--db", str(db), "import", str(tmp_path / "mine.csv"), "--keep-demo"]) == 0
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM deals") == 3001
    (tmp_path / "more.csv").write_text("deal_id,account,outcome\nMY2,Bolt,open\n", encoding="utf-8")
    assert main(["--db", str(db), "import", str(tmp_path / "more.csv")]) == 0
    assert "demo data cleared (batch 1 undone), now that your data is in" in capsys.readouterr().err
    with Store(db) as s:
        assert s.fetchall("SELECT deal_id FROM deals ORDER BY 1") == [("MY1",), ("MY2",)]


def test_a_skip_invalid_import_counts_rows_and_one_that_keeps_none_is_refused(store, csv_writer):
    """'0 deals added … 18641 invalid cells skipped' was a green Imported; rows are counted, not cells."""
    from analytics.i18n.issues import message_text

    header = ["deal_id", "account", "amount", "created_at", "outcome"]
    rows = [["K1", "Acme", "10", "2026-01-01", "open"]] + [
        [f"B{i}", "Bolt", "lots", "yesterday", "maybe"] for i in range(13)]  # three bad cells a row
    r = import_files(store, csv_writer("d.csv", header, rows), skip_invalid=True)
    assert (r.status, r.deals_inserted, r.rejected_rows) == ("imported", 1, 13)
    assert r.message.endswith("1 deal added, 0 updated, 0 stage events added; 13 rows skipped (39 problems), "
                              "kept in rejected_rows: 1 of 14 rows imported (7.1%)")
    assert message_text(r.outcome, "zh").endswith("14 行中导入了 1 行(7.1%)")
    none = import_files(store, csv_writer("e.csv", header, rows[1:]), skip_invalid=True)
    assert none.status == "rejected" and none.batch_id is None
    assert none.message == ("rejected: every row has a problem (39 problems in 13 rows): nothing to import; "
                            "the database is unchanged")
    assert store.scalar("SELECT count(*) FROM import_batches") == 1
    assert "没有可导入的内容" in message_text(none.outcome, "zh")


def test_the_win_model_undoes_the_censoring_of_slow_wins(store, csv_writer):
    """Every day for 200 days one deal enters stage 1 that will win 100 days later and one that will lose 10 days
    later: P(win | stage 1) is 1/2. Standing on the last day, the losses of the last 10 days and the wins of the
    last 100 are still open, so 190 losses and 100 wins are resolved: 100/290 = 0.345 read as it stands. A loss
    (10 days) is seen resolved by 190 of the 200 days' follow-ups, K = 0.95; a win (100 days) by 100 of 200,
    K = 0.5. Weighted by 1/K: 100·2 / (100·2 + 190/0.95) = 1/2 exactly, before Jeffreys' half-deal."""
    from datetime import date, timedelta

    from analytics.forecasting.winmodel import fit_team_model
    from analytics.store.training import training_rows

    start, deals, history = date(2025, 1, 1), [], []
    for day in range(200):
        created = start + timedelta(days=day)
        for kind, outcome, days in (("W", "won", 100), ("L", "lost", 10)):
            closed = created + timedelta(days=days)
            deals.append([f"{kind}{day}", created.isoformat(), closed.isoformat(), outcome])
            history.append([f"{kind}{day}", "1", created.isoformat()])
            if outcome == "won":
                history.append([f"{kind}{day}", "8", closed.isoformat()])
    # the standing day: the last creation + 1, so that follow-ups run 1..200 days; closes after it stay unknown
    when = start + timedelta(days=200)
    r = import_files(store, csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], deals),
                     csv_writer("h.csv", ["deal_id", "stage", "entered_at"], history))
    assert r.status == "imported", r.errors
    stage_1 = training_rows(store, when).query("stage == 1")
    assert (len(stage_1), int(stage_1["won"].sum())) == (290, 100)  # as it stands: 0.345
    model = fit_team_model(store, when)
    assert model.stage_rate_[1] == pytest.approx(0.5, abs=1e-12)  # (145 + 0.5) / (290 + 1), weights of mean 1


@pytest.mark.parametrize("n_train, width", [(None, 40.5), (10_000, 42.5), (100, 134.4)])
def test_the_forecast_range_widens_as_the_model_knows_less(n_train, width):
    """1,000 open deals of amount 1 at one stage, each booking with q = P(win) = 0.5, summed as a normal (no deal
    drawn one by one). Their bookings vary by Σ a²q(1 − q) = 250. The model's own uncertainty adds a shared shift
    of the stage's log-odds, δ ~ N(0, se²), se = 1/√(n r (1 − r)): to first order the total moves by
    δ·Σ a q (1 − p) = 250 δ. P10–P90 = 2 × 1.2816 × √(250 + 250² se²): 40.5 for a known model, 42.5 trained on
    10,000 deals (se 0.02), 134.4 on 100 (se 0.2)."""
    import numpy as np

    from analytics.forecasting.forecast import simulate_bookings

    amount, q, stage = np.ones(1000), np.full(1000, 0.5), np.full(1000, 3)
    sd = None if n_train is None else {3: 1 / np.sqrt(n_train * 0.25)}
    totals = simulate_bookings(amount, q, stage, 200_000, np.random.default_rng(5), simulated=0,
                               p_win=q, stage_sd=sd).sum(axis=1)
    p10, p90 = np.percentile(totals, [10, 90])
    assert p90 - p10 == pytest.approx(width, rel=0.02)
    assert np.mean(totals) == pytest.approx(500, abs=0.5)
