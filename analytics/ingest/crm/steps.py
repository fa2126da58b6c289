"""From a reader's stage steps (deal, target stage or outcome, moment, source file and row) to stage events: one
per actual change of the mapped stage; a deal's current stage when the export holds no history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.domain import LAST_STAGE, LOST, WON
from analytics.ingest.crm.source import SourceTable


def current_stage(deals: pd.DataFrame, stage: pd.Series, at: pd.Series, table: SourceTable) -> pd.DataFrame:
    """The one observation an export without stage history gives: the current stage, dated by the best date it
    has (a won deal's signing by its close date)."""
    at = at.where(stage != WON, deals["closed_at"].fillna(at))
    return pd.DataFrame({"deal_id": deals["deal_id"], "target": stage, "at": at, "file": table.name,
                         "row": table.rows})


def no_steps() -> pd.DataFrame:
    return pd.DataFrame({"deal_id": pd.Series(dtype=object), "target": pd.Series(dtype=object),
                         "at": pd.Series(dtype="datetime64[ns]"), "file": pd.Series(dtype=object),
                         "row": pd.Series(dtype=np.int64)})


def no_events() -> pd.DataFrame:
    return stage_events_from_steps(no_steps())


def no_deals() -> pd.DataFrame:
    return pd.DataFrame({"deal_id": pd.Series(dtype=object), "currency": pd.Series(dtype=object)})


def stage_events_from_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """Stage events from time-ordered observations: one per change of the mapped stage, per deal.

    'won' is stage 8; 'lost' adds no event but ends a stay, so a deal reopened at its old stage re-enters it.
    Observations without a date or an unmapped stage are dropped here: they are already reported as errors.
    """
    steps = steps[steps["at"].notna() & steps["target"].notna() & (steps["deal_id"] != "")]
    steps = steps.sort_values(["deal_id", "at", "file", "row"], kind="stable")
    target = steps["target"].map(lambda t: LAST_STAGE if t == WON else t)
    previous = target.groupby(steps["deal_id"], sort=False).shift()
    change = (target != previous) & (target != LOST)
    events = pd.DataFrame({"deal_id": steps["deal_id"][change], "stage": target[change].astype(int),
                           "entered_at": steps["at"][change], "file": steps["file"][change],
                           "row": steps["row"][change]})
    return events.reset_index(drop=True)
