"""Issue 18 on 100,000 generated deals: slippage shares agree with the generator's truth within sampling error, and
the waterfall identity holds for 20 random date pairs, with and without a quarter. One generated dataset serves the
module (generated and imported once, about 15 s)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from analytics.analyses.slippage import compute_slippage
from analytics.analyses.waterfall import compute_waterfall, identity_holds
from analytics.ingest.canonical import import_files
from analytics.sample import SampleParameters, push_probability, write_sample
from analytics.store.connection import Store

DEALS = 100_000


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    truth = write_sample(folder / "s", SampleParameters(deals=DEALS, seed=11, as_of="2026-11-27"))
    store = Store(folder / "kf.duckdb")
    r = import_files(store, folder / "s" / "deals.csv", folder / "s" / "stage_history.csv")
    assert (r.status, r.field_changes) == ("imported", truth["counts"]["deal_changes"])
    yield store, truth
    store.close()


def test_slippage_shares_agree_with_the_generators_truth(scale):
    """The generator pushes a deal's close with P = push_probability(how it ends, its owner), always before it
    closes and recorded from the CRM's adoption on (truth.json's recorded_from: a deal closed before it, migrated
    with its stage history, has no push recorded). So among the closed deals keyfunnel counts as pushed at least
    once (its win rate by push count), the share of won and of lost deals estimates the mean over them of that
    probability, 0 for those closed before the adoption: within 4 standard errors."""
    store, truth = scale
    assert truth["changes"]["push_probability"] == {"won": 0.25, "lost": 0.45}
    s = compute_slippage(store)
    by_pushes = {share.group: share for share in s.win_rate_by_pushes}
    won = {g: by_pushes[g].k for g in by_pushes}
    lost = {g: by_pushes[g].n - by_pushes[g].k for g in by_pushes}
    owners = store.fetchall("""SELECT outcome, CAST(split_part(owner, ' ', 2) AS INTEGER) - 1,
                                      closed_at >= CAST($adopted AS TIMESTAMP), count(*)
                               FROM deals WHERE outcome <> 'open' GROUP BY ALL""",
                            {"adopted": truth["changes"]["recorded_from"]})
    for fate, counts in (("won", won), ("lost", lost)):
        mine = [(owner, recorded, n) for outcome, owner, recorded, n in owners if outcome == fate]
        total = sum(n for _, _, n in mine)
        assert total == sum(counts.values())  # every closed deal is in one push-count group
        expected = sum(push_probability(fate, owner) * n for owner, recorded, n in mine if recorded) / total
        observed = 1 - counts["0"] / total
        assert abs(observed - expected) < 4 * (expected * (1 - expected) / total) ** 0.5, (fate, observed, expected)
    assert s.win_rate_by_pushes[0].share > s.win_rate_by_pushes[-1].share  # pushed deals lose more often


def test_the_waterfall_identity_holds_for_twenty_random_date_pairs(scale):
    store, _ = scale
    rng = random.Random(18)
    moved = 0
    for _ in range(20):
        a = date(2024, 1, 1) + timedelta(days=rng.randrange(1000))
        b = a + timedelta(days=rng.randrange(1, 200))
        for quarter in (None, f"{b.year}Q{(b.month - 1) // 3 + 1}"):
            w = compute_waterfall(store, a, b, quarter)
            assert identity_holds(w), (a, b, quarter)
            moved += sum(w.bucket(name).deals for name in ("pushed_out", "pulled_in", "amount_up", "amount_down"))
    assert moved > 1000  # the generated history moves close dates and amounts
