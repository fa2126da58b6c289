"""The eight-stage funnel: how many deals reached each stage, how many went on, and with what certainty.

A deal reached stage s if it entered s or any later stage; a won deal has reached 8. An open deal whose furthest
stage is s has neither passed nor failed s: it is left out of s's conversion and reported as open there.
Definitions: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date

from analytics.domain import (
    HUBSPOT_DEFAULT_PROBABILITY,
    LAST_STAGE,
    MISSING_VALUE,
    SALESFORCE_DEFAULT_PROBABILITY,
    STAGE_NUMBERS,
)
from analytics.filters import DealFilter
from analytics.stats import Interval, product_limit, wilson_interval
from analytics.store.connection import Store
from analytics.tables import records_frame


@dataclass(frozen=True)
class StageFunnel:
    stage: int
    reached: int
    amount: float  # Σ known amounts of the deals that reached s
    amount_known: int  # how many of them have an amount: real exports leave early deals' blank
    advanced: int | None  # observed at s and went on to reach s+1; None at stage 8
    lost_here: int
    open_here: int
    conversion: float | None  # P(reach s+1 | reached s), censoring-aware
    conversion_ci: Interval | None
    cumulative_conversion: float | None  # P(reach s | reached 1), product-limit
    cumulative_ci: Interval | None
    win_rate: float | None  # P(win | reached s), product-limit
    win_rate_ci: Interval | None
    lost_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimability:
    """Whether the data can tell where deals were lost, which the conversions and the claim need.

    An export that holds each deal's current stage only (Dynamics 365 opportunities, a report without history, a
    Salesforce export without its OpportunityHistory) puts every lost deal at one closing stage: the conversions
    then only restate the overall win rate. `unobserved_stages`: stages no deal was ever recorded entering (a CRM
    whose pipeline has no counterpart for them); deals that pass them are not evidence that they convert."""

    estimable: bool
    reason: str | None = None
    unobserved_stages: tuple[int, ...] = ()
    lost_stage: int | None = None  # the one stage every lost deal sits at, when not estimable


# Below these, a file holds the current stage only: hardly any deal with two stage events, lost deals at one stage.
HISTORY_SHARE = 0.02
ONE_STAGE_SHARE = 0.95
CURRENT_STAGE_ONLY = ("current stage only: no deal has a stage history and every lost deal sits at the same stage "
                      "({stage}), so where deals were lost, and with it the stage conversions and the claim, cannot "
                      "be estimated from this data; import the stage history (Salesforce OpportunityHistory, "
                      "HubSpot's Date entered columns, keyfunnel's stage_history.csv) or a series of snapshots. "
                      "The win rate overall, by tier and by owner, and cycle times stand")


def estimability(store: Store) -> Estimability:
    """What the data can answer, from the whole team's data (a filter does not change what the export holds)."""
    row = store.fetchone("""SELECT count(*), count(*) FILTER (WHERE n_events > 1),
                                   count(*) FILTER (WHERE outcome = 'lost'), mode(furthest_stage) FILTER (WHERE outcome = 'lost')
                            FROM deal_facts""")
    deals, with_history, lost, lost_stage = row
    observed = {int(r[0]) for r in store.fetchall("SELECT DISTINCT stage FROM stage_events")}
    unobserved = tuple(s for s in STAGE_NUMBERS if s < LAST_STAGE and s not in observed) if observed else ()
    if deals and lost and with_history <= HISTORY_SHARE * deals:
        at_mode = store.scalar("SELECT count(*) FROM deal_facts WHERE outcome = 'lost' AND furthest_stage = $s",
                               {"s": lost_stage})
        if at_mode >= ONE_STAGE_SHARE * lost:
            return Estimability(False, CURRENT_STAGE_ONLY.format(stage=lost_stage), unobserved, int(lost_stage))
    return Estimability(True, None, unobserved)


@dataclass(frozen=True)
class Funnel:
    stages: list[StageFunnel]
    deals: int
    filters: DealFilter
    as_of: date | None
    estimability: Estimability = Estimability(True)

    def stage(self, number: int) -> StageFunnel:
        return self.stages[number - 1]

    def to_frame(self):
        """One row per stage: stage, reached, amount, amount_known, advanced (None at stage 8), lost_here,
        open_here, conversion, cumulative_conversion, win_rate, observed (False where no deal was recorded
        entering it, or the data holds the current stage only: its conversion is then no evidence), and each
        interval as _low and _high (conversion_ci, cumulative_ci, win_rate_ci)."""
        unobserved = (set(self.estimability.unobserved_stages) if self.estimability.estimable
                      else {s.stage for s in self.stages})
        frame = records_frame(self.stages, ("stage", "reached", "amount", "amount_known", "advanced", "lost_here",
                                            "open_here", "conversion", "cumulative_conversion", "win_rate"),
                              ("conversion_ci", "cumulative_ci", "win_rate_ci"),
                              observed=[s.stage not in unobserved for s in self.stages])
        frame["advanced"] = frame["advanced"].astype("Int64")
        return frame

    def to_json(self) -> dict:
        return {"stages": [{**asdict(s), "observed": s.stage not in self.estimability.unobserved_stages}
                           for s in self.stages], "deals": self.deals,
                "filters": self.filters.to_json(), "as_of": self.as_of,
                "estimable": self.estimability.estimable,
                "not_estimable_reason": self.estimability.reason}


@dataclass(frozen=True)
class StageWinRate:
    """P(win | reached s) beside the CRM defaults. `win_rate` is the product-limit estimate (open deals censored,
    deals first seen later not at risk), so it is not won_after / closed_after: those are the counts behind it."""
    stage: int
    won_after: int  # deals that reached s and were won
    closed_after: int  # deals that reached s and closed, won or lost
    open_after: int  # deals that reached s and are still open
    win_rate: float | None
    win_rate_ci: Interval | None
    salesforce_default: float
    hubspot_default: float


def data_as_of(store: Store) -> date | None:
    """The default as-of date of every analysis: the latest date the data knows of (a stage entry, a close, a
    creation) that is not in the future of the export. A date after the day the data was last imported (a typo, a
    planned close written as closed) is in its future: it is warned about at import, and would otherwise move every
    page to a later quarter."""
    imported = store.scalar("SELECT CAST(max(finished_at) AS DATE) FROM import_batches WHERE status = 'imported'")
    return store.scalar("""SELECT greatest(max(CAST(last_stage_at AS DATE)) FILTER (WHERE CAST(last_stage_at AS DATE) <= $b),
                                           max(closed_at) FILTER (WHERE closed_at <= $b),
                                           max(created_at) FILTER (WHERE created_at <= $b))
                           FROM deal_facts""", {"b": imported or date.max})


StageCounts = dict[tuple[int, int, str], tuple[int, float, int]]


def stage_counts(store: Store, filters: DealFilter) -> StageCounts:
    """(entry_stage, furthest_stage, outcome) → (deals, amount, deals with an amount). The entry stage is 1, or for a
    history that starts mid-way (left-truncated) its first observed stage: before it, the deal was not observed."""
    where, params = filters.where()
    rows = store.fetchall(f"""SELECT CASE WHEN left_truncated THEN first_stage ELSE 1 END, furthest_stage, outcome,
                                     count(*), coalesce(sum(amount), 0), count(amount)
                              FROM deal_facts WHERE {where} GROUP BY ALL""", params)
    return {(int(e), int(s), o): (int(n), float(a), int(k)) for e, s, o, n, a, k in rows}


def compute_funnel(store: Store, filters: DealFilter = DealFilter(), as_of: date | None = None) -> Funnel:
    counts = stage_counts(store, filters)
    where, params = filters.where()
    reasons: dict[int, dict[str, int]] = {s: {} for s in STAGE_NUMBERS}
    for s, reason, n in store.fetchall(f"""SELECT furthest_stage, coalesce(lost_reason, $missing), count(*)
            FROM deal_facts WHERE {where} AND outcome = 'lost' GROUP BY ALL ORDER BY 1, 3 DESC, 2""",
                                       {**params, "missing": MISSING_VALUE}):
        reasons[int(s)][reason] = int(n)
    return replace(funnel_from_counts(counts, reasons, filters, as_of or data_as_of(store)),
                   estimability=estimability(store))


def funnel_at(store: Store, when: date, filters: DealFilter = DealFilter()) -> Funnel:
    """The funnel as it stood at the start of `when`, rebuilt from the stage history (see analytics.snapshot)."""
    from analytics.store.asof import stage_counts_at

    counts = stage_counts_at(store, when, filters)
    return funnel_from_counts(counts, {s: {} for s in STAGE_NUMBERS}, filters, when)


def funnel_from_counts(counts: dict, reasons: dict, filters: DealFilter, as_of: date | None) -> Funnel:
    """The funnel from (entry_stage, furthest_stage, outcome) → (deals, amount, deals with an amount) counts."""
    def total(select) -> int:
        return sum(v[0] for k, v in counts.items() if select(*k))

    reached = {s: total(lambda e, f, o: f >= s) for s in STAGE_NUMBERS}
    amount = {s: sum(v[1] for (e, f, o), v in counts.items() if f >= s) for s in STAGE_NUMBERS}
    amount_known = {s: sum(v[2] for (e, f, o), v in counts.items() if f >= s) for s in STAGE_NUMBERS}
    lost_here = {s: total(lambda e, f, o: f == s and o == "lost") for s in STAGE_NUMBERS}
    open_here = {s: total(lambda e, f, o: f == s and o == "open") for s in STAGE_NUMBERS}
    # Conversion at s: of the deals observed at s whose fate there is known (went on, or lost there), the share
    # that went on. Open deals at s are censored; deals first observed after s (left-truncated) are not at risk.
    advanced = {s: total(lambda e, f, o: f > s and e <= s) for s in STAGE_NUMBERS}
    steps = {s: (advanced[s], advanced[s] + lost_here[s]) for s in STAGE_NUMBERS if s < LAST_STAGE}
    stages = []
    for s in STAGE_NUMBERS:
        if s < LAST_STAGE:
            passed, at_risk = steps[s]
            conversion = passed / at_risk if at_risk else None
            conversion_ci = wilson_interval(passed, at_risk)
        else:
            conversion = conversion_ci = None
        cumulative, cumulative_ci = product_limit([steps[k] for k in STAGE_NUMBERS if k < s])
        win, win_ci = product_limit([steps[k] for k in STAGE_NUMBERS if s <= k < LAST_STAGE])
        stages.append(StageFunnel(
            stage=s, reached=reached[s], amount=amount[s], amount_known=amount_known[s], advanced=advanced[s] if s < LAST_STAGE else None,
            lost_here=lost_here[s], open_here=open_here[s],
            conversion=conversion, conversion_ci=conversion_ci,
            cumulative_conversion=cumulative if reached[1] else None,
            cumulative_ci=cumulative_ci if reached[1] else None,
            win_rate=win if reached[s] else None, win_rate_ci=win_ci if reached[s] else None,
            lost_reasons=reasons.get(s, {})))
    return Funnel(stages, reached[1], filters, as_of)


def win_rates_by_stage(funnel: Funnel) -> list[StageWinRate]:
    """P(win | reached s) for s = 1..7, beside the CRM default stage probabilities."""
    out = []
    for st in funnel.stages[:-1]:
        s = st.stage
        won = funnel.stage(LAST_STAGE).reached
        lost_from_here = sum(funnel.stage(k).lost_here for k in STAGE_NUMBERS if k >= s)
        open_from_here = sum(funnel.stage(k).open_here for k in STAGE_NUMBERS if k >= s)
        out.append(StageWinRate(s, won, won + lost_from_here, open_from_here, st.win_rate, st.win_rate_ci,
                                SALESFORCE_DEFAULT_PROBABILITY[s], HUBSPOT_DEFAULT_PROBABILITY[s]))
    return out
