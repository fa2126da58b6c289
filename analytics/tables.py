"""Typed results as tables: `records_frame` turns a list of result rows (dataclasses) into a pandas DataFrame with
the columns named, in order, and each 95% interval as two columns, `<name>_low` and `<name>_high`. Every result
type's `to_frame()` is built with it; pages, CSV downloads, the review's workbook and `keyfunnel … --csv` read
those frames, never a table of their own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def records_frame(rows: Iterable[Any], columns: Sequence[str], intervals: Sequence[str] = (),
                  **computed: Sequence[Any]) -> pd.DataFrame:
    """One row per item of `rows`: `columns` read as its attributes, then `computed` columns (a value per row),
    then each of `intervals` (an attribute holding (low, high) or None) as `<name>_low` and `<name>_high`.
    pandas is imported here, not with the module: a command that prints JSON never builds a frame, and importing
    pandas is most of a cold `keyfunnel funnel --json` (0.35 s of 0.7 s)."""
    import pandas as pd

    rows = list(rows)
    data: dict[str, list] = {c: [getattr(r, c) for r in rows] for c in columns}
    for name, values in computed.items():
        data[name] = list(values)
    for name in intervals:
        bounds = [getattr(r, name) for r in rows]
        data[f"{name}_low"] = [b[0] if b else None for b in bounds]
        data[f"{name}_high"] = [b[1] if b else None for b in bounds]
    frame = pd.DataFrame(data, columns=[*columns, *computed, *(f"{n}_{e}" for n in intervals for e in ("low", "high"))])
    for name in (*(f"{n}_{e}" for n in intervals for e in ("low", "high")),):
        frame[name] = frame[name].astype("Float64")
    return frame
