"""The preferred-supplier claim: once confirmed preferred supplier (entered stage 7), a deal is won > 75% of the time.

Tested on resolved deals that reached the stage; open ones are left out and counted. Verdicts:
supported (the 95% Wilson interval lies above the threshold), contradicted (below), inconclusive (straddles it),
insufficient (fewer resolved deals than `min_resolved`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from analytics.analyses.funnel import estimability
from analytics.domain import MISSING_VALUE, PREFERRED_SUPPLIER_STAGE
from analytics.filters import DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store
from analytics.tables import records_frame

SUPPORTED, CONTRADICTED, INCONCLUSIVE, INSUFFICIENT = "supported", "contradicted", "inconclusive", "insufficient"
NOT_ESTIMABLE = "not_estimable"
DEFAULT_THRESHOLD = 0.75
DEFAULT_MIN_RESOLVED = 20
SEGMENT_DIMENSIONS = ("tier", "region", "close_year")


@dataclass(frozen=True)
class ClaimTest:
    stage: int
    threshold: float
    won: int
    resolved: int
    open_excluded: int
    p_hat: float | None
    ci: Interval | None
    p_value: float | None  # one-sided exact binomial test of H0: p ≤ threshold
    verdict: str


@dataclass(frozen=True)
class ClaimSegment:
    dimension: str
    value: str
    test: ClaimTest
    # test.p_value adjusted for the number of segments tested (Benjamini–Hochberg): each segment's interval is 95%
    # on its own, so among a dozen segments a verdict can be wrong by chance; below 0.05 this one still holds
    p_adjusted: float | None = None


@dataclass(frozen=True)
class PreferredSupplierClaim:
    overall: ClaimTest
    segments: list[ClaimSegment] = field(default_factory=list)
    comparison: ClaimTest | None = None  # the same test at the stage before, for contrast
    filters: DealFilter = DealFilter()
    # False when the data holds the current stage only (analytics.funnel.estimability): the counts are then not
    # evidence about stage 7 at all, and the verdict is NOT_ESTIMABLE whatever they say
    estimable: bool = True
    not_estimable_reason: str | None = None

    def to_frame(self):
        """All deals, then each segment tested, then the stage before for contrast: dimension ("all", a segment's
        column, or "stage_before"), value, stage, won, resolved, open_excluded, p_hat, p_value, p_adjusted
        (segments only), verdict, ci as _low and _high."""
        named = [("all", "", self.overall, None)] + [(s.dimension, s.value, s.test, s.p_adjusted)
                                                      for s in self.segments]
        if self.comparison is not None:
            named.append(("stage_before", "", self.comparison, None))
        tests = [n[2] for n in named]
        return records_frame(tests, ("stage", "won", "resolved", "open_excluded", "p_hat", "p_value", "verdict"),
                             ("ci",), dimension=[n[0] for n in named], value=[n[1] for n in named],
                             p_adjusted=[n[3] for n in named])

    def to_json(self) -> dict:
        out = asdict(self.overall)
        out["estimable"], out["not_estimable_reason"] = self.estimable, self.not_estimable_reason
        out["segments"] = [{"dimension": s.dimension, "value": s.value, **asdict(s.test), "p_adjusted": s.p_adjusted}
                           for s in self.segments]
        out["comparison"] = asdict(self.comparison) if self.comparison else None
        out["filters"] = self.filters.to_json()
        return out


def claim_test(won: int, resolved: int, open_excluded: int, *, stage: int, threshold: float,
               min_resolved: int = DEFAULT_MIN_RESOLVED) -> ClaimTest:
    """The verdict for `won` of `resolved`; never divides by zero."""
    if resolved == 0:
        return ClaimTest(stage, threshold, 0, 0, open_excluded, None, None, None, INSUFFICIENT)
    from scipy.stats import binomtest  # imported here: only the claim needs scipy

    p_hat = won / resolved
    ci = wilson_interval(won, resolved)
    p_value = float(binomtest(won, resolved, threshold, alternative="greater").pvalue)
    if resolved < min_resolved:
        verdict = INSUFFICIENT
    elif ci[0] > threshold:
        verdict = SUPPORTED
    elif ci[1] < threshold:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    return ClaimTest(stage, threshold, won, resolved, open_excluded, p_hat, ci, p_value, verdict)


_SEGMENT_SQL = {  # dimension → SQL expression over deal_facts (fixed list: nothing from input is formatted in)
    "tier": "coalesce(tier, $missing)",
    "region": "coalesce(region, $missing)",
    "close_year": "CAST(year(closed_at) AS VARCHAR)",
}


def _counts(store: Store, stage: int, filters: DealFilter, group: str | None = None) -> list[tuple]:
    where, params = filters.where()
    key = _SEGMENT_SQL[group] if group else "'all'"
    return store.fetchall(f"""
        SELECT {key} AS segment,
               count(*) FILTER (WHERE outcome = 'won'),
               count(*) FILTER (WHERE outcome <> 'open'),
               count(*) FILTER (WHERE outcome = 'open')
        FROM deal_facts WHERE {where} AND furthest_stage >= $stage
        GROUP BY ALL ORDER BY segment""", {**params, "stage": stage, "missing": MISSING_VALUE})


def with_adjusted_p_values(segments: list[ClaimSegment]) -> list[ClaimSegment]:
    """The segments, each with its p-value adjusted for how many were tested (Benjamini–Hochberg, as
    scipy.stats.false_discovery_control computes it); a segment without a p-value (nothing resolved) has none."""
    tested = [i for i, s in enumerate(segments) if s.test.p_value is not None]
    if not tested:
        return segments
    from scipy.stats import false_discovery_control

    adjusted = false_discovery_control([segments[i].test.p_value for i in tested])
    out = list(segments)
    for i, p in zip(tested, adjusted):
        out[i] = replace(segments[i], p_adjusted=float(p))
    return out


def test_claim(store: Store, filters: DealFilter = DealFilter(), *, stage: int = PREFERRED_SUPPLIER_STAGE,
               threshold: float = DEFAULT_THRESHOLD, min_resolved: int = DEFAULT_MIN_RESOLVED,
               segments: bool = True) -> PreferredSupplierClaim:
    def one(rows) -> ClaimTest:
        won, resolved, open_ = (sum(r[i] for r in rows) for i in (1, 2, 3))
        return claim_test(won, resolved, open_, stage=stage, threshold=threshold, min_resolved=min_resolved)

    overall = one(_counts(store, stage, filters))
    segs = []
    if segments:
        for dim in SEGMENT_DIMENSIONS:
            for value, won, resolved, open_ in _counts(store, stage, filters, dim):
                if value is None:  # open deals have no close year
                    continue
                segs.append(ClaimSegment(dim, value, claim_test(won, resolved, open_, stage=stage,
                                                                threshold=threshold, min_resolved=min_resolved)))
    segs = with_adjusted_p_values(segs)
    comparison = None
    if stage > 1:
        rows = _counts(store, stage - 1, filters)
        comparison = claim_test(*(sum(r[i] for r in rows) for i in (1, 2, 3)), stage=stage - 1,
                                threshold=threshold, min_resolved=min_resolved)
    known = estimability(store)
    if not known.estimable:  # the counts stand as counts, but they say nothing about the claim
        overall = replace(overall, verdict=NOT_ESTIMABLE)
        segs = [replace(g, test=replace(g.test, verdict=NOT_ESTIMABLE)) for g in segs]
        comparison = comparison and replace(comparison, verdict=NOT_ESTIMABLE)
    return PreferredSupplierClaim(overall, segs, comparison, filters, known.estimable, known.reason)
