"""Process conformance: did deals go through the eight stages in order, skip, go back or re-enter?

A history that starts mid-way (left-truncated) has unobserved early stages, not skipped ones: it is counted as
left-truncated and its early stages distort neither the skip counts nor the conversions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from analytics.analyses.funnel import data_as_of
from analytics.domain import STAGE_NUMBERS
from analytics.filters import DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store
from analytics.tables import records_frame


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

    def to_frame(self):
        """One row per move between stages seen in the histories: source (a stage), target (a stage, or lost / open
        where a history ends), deals."""
        return records_frame(self.transitions, ("source", "target", "deals"))

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
    # to its last recorded stage; the others' moves were listed per deal at import (deal_facts.moves). Then where
    # each history of a lost or open deal ends.
    in_order_moves = store.fetchone("SELECT " + ", ".join(
        f"count(*) FILTER (WHERE first_stage <= {s} AND last_recorded_stage > {s})" for s in STAGE_NUMBERS[:-1])
        + f" FROM deal_facts WHERE {where} AND n_events > 0 AND in_order", params)
    counts: dict[tuple[int, str], int] = {(s, str(s + 1)): int(n) for s, n in zip(STAGE_NUMBERS, in_order_moves) if n}
    for src, dst, n in store.fetchall(f"""
            SELECT m // 10, CAST(m % 10 AS VARCHAR), count(*)
            FROM (SELECT unnest(moves) AS m FROM deal_facts WHERE {where} AND n_events > 0 AND NOT in_order)
            GROUP BY ALL
            UNION ALL
            SELECT current_stage, outcome, count(*) FROM deal_facts
            WHERE {where} AND outcome <> 'won' AND n_events > 0 GROUP BY ALL""", params):
        counts[(int(src), dst)] = counts.get((int(src), dst), 0) + int(n)
    rows = sorted((s, t, n) for (s, t), n in counts.items())
    transitions = [Transition(int(s), int(t) if t.isdigit() else t, int(n)) for s, t, n in rows]
    return Conformance(
        deals=row[0], with_history=row[1], in_order=row[2], skipped=row[3], moved_backwards=row[4],
        reentered=row[5], left_truncated=row[6], skipped_by_stage=skipped_by_stage, transitions=transitions,
        conforming=_group(row[7], row[8]), non_conforming=_group(row[9], row[10]), filters=filters,
        as_of=as_of or data_as_of(store))
