"""The filters every analysis takes, turned into a WHERE clause over deal_facts with bound parameters only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date

# The deal columns a filter reads: these text columns by value, and the two dates by range.
TEXT_FILTER_COLUMNS = ("tier", "owner", "region", "industry")
FILTERED_COLUMNS = (*TEXT_FILTER_COLUMNS, "created_at", "closed_at")


@dataclass(frozen=True)
class DealFilter:
    tier: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    industry: tuple[str, ...] = ()
    created_from: date | None = None
    created_to: date | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    cohort: str | None = None  # deals created in a quarter, e.g. "2025Q3"

    @classmethod
    def from_choices(cls, chosen: Mapping[str, object]) -> DealFilter:
        """The filter from what a user chose, by field name: the CLI's parsed arguments (vars(args)) and the app's
        sidebar both build it here. Text fields take any iterable of values (tiers are upper-cased); a field
        absent, empty or None is not filtered on; other keys are ignored."""
        values: dict[str, object] = {}
        for f in fields(cls):
            given = chosen.get(f.name)
            if given in (None, "", (), []):
                continue
            if f.name in TEXT_FILTER_COLUMNS:
                given = tuple(str(v).upper() if f.name == "tier" else str(v) for v in given)
            values[f.name] = given
        return cls(**values)

    def is_empty(self) -> bool:
        return self == DealFilter()

    def to_json(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v not in ((), None)}
        return {k: (list(v) if isinstance(v, tuple) else v.isoformat() if isinstance(v, date) else v)
                for k, v in out.items()}

    def where(self, alias: str = "") -> tuple[str, dict]:
        """SQL condition and its named parameters. Column names come from this fixed list only."""
        a = f"{alias}." if alias else ""
        clauses, params = ["true"], {}
        for column in TEXT_FILTER_COLUMNS:
            values = getattr(self, column)
            if values:
                clauses.append(f"{a}{column} IN (SELECT unnest($f_{column}))")
                params[f"f_{column}"] = list(values)
        for column, bound, op in (("created_at", self.created_from, ">="), ("created_at", self.created_to, "<="),
                                  ("closed_at", self.closed_from, ">="), ("closed_at", self.closed_to, "<=")):
            if bound is not None:
                name = f"f_{column}_{'from' if op == '>=' else 'to'}"
                clauses.append(f"{a}{column} {op} ${name}")
                params[name] = bound
        if self.cohort:
            start, end = quarter_bounds(self.cohort)
            clauses.append(f"{a}created_at >= $f_cohort_start AND {a}created_at < $f_cohort_end")
            params.update(f_cohort_start=start, f_cohort_end=end)
        return " AND ".join(clauses), params


_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """'2025Q3' → (2025-07-01, 2025-10-01): start inclusive, end exclusive."""
    m = _QUARTER.match(quarter)
    if not m:
        raise ValueError(f"not a quarter: {quarter!r} (use e.g. 2025Q3)")
    year, q = int(m.group(1)), int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end
