"""Process conformance: did deals go through the eight stages in order, skip, go back or re-enter?

A history that starts mid-way (left-truncated) has unobserved early stages, not skipped ones: it is counted as
left-truncated and its early stages distort neither the skip counts nor the conversions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from .domain import STAGE_NUMBERS
from .filters import DealFilter
from .funnel import data_as_of
from .stats import Interval, wilson_interval
from .store import Store


@dataclass(frozen=True)
class Transition:
    source: int
    target: int | str  # a stage 2..8, or "lost" / "open" for where a history ends
    deals: int


@dataclass(frozen=True)
class GroupWinRate:
    won: int
    resolved: int
    win_rate: float | None
    ci: Interval | None


@dataclass(frozen=True)
class Conformance:
    deals: int
    with_history: int
    in_order: int
    skipped: int
    moved_backwards: int
    reentered: int
    left_truncated: int
    skipped_by_stage: dict[int, int]
    transitions: list[Transition]
    conforming: GroupWinRate
    non_conforming: GroupWinRate
    filters: DealFilter
    as_of: date | None

    def share(self, count: int) -> float | None:
        return count / self.with_history if self.with_history else None

    def to_json(self) -> dict:
        out = asdict(self)
        out["filters"] = self.filters.to_json()
        out["shares"] = {k: self.share(getattr(self, k)) for k in
                         ("in_order", "skipped", "moved_backwards", "reentered", "left_truncated")}
        return out


def _group(won: int, resolved: int) -> GroupWinRate:
    return GroupWinRate(won, resolved, won / resolved if resolved else None, wilson_interval(won, resolved))


def compute_conformance(store: Store, filters: DealFilter = DealFilter(), as_of: date | None = None) -> Conformance:
    where, params = filters.where()
    row = store.fetchone(f"""
        SELECT count(*), count(*) FILTER (WHERE n_events > 0),
               count(*) FILTER (WHERE n_events > 0 AND in_order),
               count(*) FILTER (WHERE len(skipped_stages) > 0),
               count(*) FILTER (WHERE moved_backwards),
               count(*) FILTER (WHERE reentered),
               count(*) FILTER (WHERE left_truncated),
               count(*) FILTER (WHERE n_events > 0 AND in_order AND outcome = 'won'),
               count(*) FILTER (WHERE n_events > 0 AND in_order AND outcome <> 'open'),
               count(*) FILTER (WHERE n_events > 0 AND NOT in_order AND outcome = 'won'),
               count(*) FILTER (WHERE n_events > 0 AND NOT in_order AND outcome <> 'open')
        FROM deal_facts WHERE {where}""", params)
    skipped_by_stage = {s: 0 for s in STAGE_NUMBERS}
    for s, n in store.fetchall(f"""SELECT s, count(*) FROM (SELECT unnest(skipped_stages) AS s FROM deal_facts
                                   WHERE {where}) GROUP BY s""", params):
        skipped_by_stage[int(s)] = int(n)
    # Observed transitions between consecutive recorded entries. An in-order history moves s → s+1 from its first
    # to its last recorded stage, so only the other histories' events need reading; then where each history of a
    # lost or open deal ends.
    rows = store.fetchall(f"""
        WITH sel AS (SELECT deal_id, in_order, first_stage, last_recorded_stage FROM deal_facts
                     WHERE {where} AND n_events > 0),
        moves AS (
            SELECT unnest(range(first_stage, last_recorded_stage)) AS src, NULL::INTEGER AS dst
            FROM sel WHERE in_order
            UNION ALL
            SELECT stage, next_stage FROM (
                SELECT e.stage, lead(e.stage) OVER (PARTITION BY e.deal_id ORDER BY e.entered_at, e.stage)
                       AS next_stage
                FROM stage_events e SEMI JOIN sel ON sel.deal_id = e.deal_id AND NOT sel.in_order)
            WHERE next_stage IS NOT NULL)
        SELECT src, CAST(coalesce(dst, src + 1) AS VARCHAR), count(*) FROM moves GROUP BY ALL
        UNION ALL
        SELECT current_stage, outcome, count(*) FROM deal_facts
        WHERE {where} AND outcome <> 'won' AND n_events > 0 GROUP BY ALL
        ORDER BY 1, 2""", params)
    transitions = [Transition(int(s), int(t) if t.isdigit() else t, int(n)) for s, t, n in rows]
    return Conformance(
        deals=row[0], with_history=row[1], in_order=row[2], skipped=row[3], moved_backwards=row[4],
        reentered=row[5], left_truncated=row[6], skipped_by_stage=skipped_by_stage, transitions=transitions,
        conforming=_group(row[7], row[8]), non_conforming=_group(row[9], row[10]), filters=filters,
        as_of=as_of or data_as_of(store))
