"""One reader per CRM preset: from an export's tables to the canonical deals and stage events, each row carrying the
file and row it came from. A reader is a function of the Converter, whose helpers find columns, type values and
count stage names; READERS names them by preset."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analytics.domain import LOST, OPEN, WON
from analytics.exceptions import InputError
from analytics.ingest.crm.source import (
    _DATE_ENTERED,
    DateColumn,
    SourceTable,
    parse_amount,
    salesforce_role,
)
from analytics.ingest.crm.steps import (
    current_stage,
    no_deals,
    no_events,
    no_steps,
    stage_events_from_steps,
)
from analytics.ingest.issues import RowIssue, clip_value
from analytics.messages import say

if TYPE_CHECKING:
    from analytics.ingest.crm.convert import Converter


# helpers the readers share
def outcomes(c: Converter, table: SourceTable, pos: int) -> pd.Series:
    """Each row's outcome as the profile maps its value; an unmapped value is a mapping error, with its count."""
    values = table.values(pos)
    out = pd.Series(None, index=values.index, dtype=object)
    for value, count in values.value_counts(sort=False).items():
        outcome = c.profile.outcome_for(value) if value else None
        if outcome is None:
            c.mapping_errors.append(RowIssue(
                table.name, None, table.header[pos], value, say("unmapped_outcome", n=int(count))))
        out[values == value] = outcome
    return out


def amounts(c: Converter, table: SourceTable, pos: int | None, currency_pos: int | None,
            deals: pd.DataFrame) -> None:
    """deals' amount and currency columns from the table's: each amount parsed (a currency mark in it names the
    currency where the currency column is blank); a value that is no amount is an error at its row."""
    amount = np.full(len(table.frame), np.nan)
    currency = c.text(table, currency_pos).str.upper().to_numpy(dtype=object)
    if pos is not None:
        for i, value in enumerate(table.values(pos)):
            if not value:
                continue
            parsed, code = parse_amount(value, c.profile.decimal_mark)
            if parsed is None:
                c.errors.append(RowIssue(table.name, int(table.rows[i]), table.header[pos], clip_value(value),
                                         say("not_an_amount_profile_comma" if c.profile.decimal_mark == ","
                                             else "not_an_amount")))
                continue
            amount[i] = parsed
            if code and not currency[i]:
                currency[i] = code
    deals["amount"] = amount
    deals["currency"] = currency


# presets
def salesforce(c: Converter) -> tuple[pd.DataFrame, pd.DataFrame]:
    p = c.profile
    roles = {t.name: salesforce_role(t, p) for t in c.tables}
    c.roles = roles
    opps = [t for t in c.tables if roles[t.name] == "deals"]
    hists = [t for t in c.tables if roles[t.name] == "history"]
    if len(opps) != 1 or len(hists) > 1:
        raise InputError(say("salesforce_files", opportunities=len(opps), histories=len(hists)))
    t = opps[0]
    dates = c.date_columns(t, ("created_at", "close_date", "stage_changed_at"))
    if hists:
        dates += c.date_columns(hists[0], ("history_at",))
    c.set_date_order(dates)
    used: set[int] = set()
    deals = c.base_deals(t, used)
    amounts(c, t, c.col(t, "amount"), c.col(t, "currency"), deals)
    deals["created_at"] = c.dates(t, c.col(t, "created_at"))
    close = c.dates(t, c.col(t, "close_date"))
    stage_pos = c.col(t, "stage", required=True)
    stage = c.stage_targets(t, c.text(t, stage_pos), t.header[stage_pos] if stage_pos is not None else "")
    closed_pos, won_pos = c.col(t, "is_closed"), c.col(t, "is_won")
    if closed_pos is not None and won_pos is not None:
        closed, won = flag(c, t, closed_pos), flag(c, t, won_pos)
        outcome = pd.Series(np.where(won == True, WON, np.where(closed == True, LOST, OPEN)),  # noqa: E712
                            index=t.frame.index)
        stage = reconcile(c, t, stage, outcome, stage_pos, f"{t.header[closed_pos]} and {t.header[won_pos]}")
    else:
        outcome = np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN))
    deals["outcome"] = outcome
    deals["closed_at"] = close.where(deals["outcome"] != OPEN)
    deals["expected_close"] = close.where(deals["outcome"] == OPEN)
    changed = c.dates(t, c.col(t, "stage_changed_at"))
    current = current_stage(deals, stage, changed.fillna(deals["created_at"]), t)
    return deals, with_history(c, hists[0], current) if hists else stage_events_from_steps(current)


def with_history(c: Converter, h: SourceTable, current: pd.DataFrame) -> pd.DataFrame:
    """Stage events from a history file (deal, stage, date per row), and for the deals it has no rows of, the
    current stage the deals file gives."""
    hp = {f: c.col(h, f, required=True) for f in ("history_deal_id", "history_stage", "history_at")}
    if None in hp.values():
        return no_events()
    steps = pd.DataFrame({
        "deal_id": c.text(h, hp["history_deal_id"]),
        "target": c.stage_targets(h, c.text(h, hp["history_stage"]), h.header[hp["history_stage"]]),
        "at": c.dates(h, hp["history_at"]), "file": h.name, "row": h.rows})
    steps = steps[steps["deal_id"] != ""]
    without = current[~current["deal_id"].isin(steps["deal_id"])]
    history_changes(c, h, hp["history_deal_id"], hp["history_at"])
    return stage_events_from_steps(pd.concat([steps, without], ignore_index=True))


def history_changes(c: Converter, h: SourceTable, deal_pos: int, at_pos: int) -> None:
    """A history file's close date and amount on each row (Salesforce's OpportunityHistory): the values from that
    row's date on, kept where they changed (each deal's first row, then each row whose value differs from the
    deal's row before), as c.changes."""
    close_pos, amount_pos = c.col(h, "history_close_date"), c.col(h, "history_amount")
    if close_pos is None and amount_pos is None:
        return
    frame = pd.DataFrame({"deal_id": c.text(h, deal_pos), "entered_at": c.dates(h, at_pos), "file": h.name,
                          "row": h.rows})
    frame["expected_close"] = c.dates(h, close_pos) if close_pos is not None else pd.NaT
    parsed = pd.DataFrame(index=h.frame.index)
    amounts(c, h, amount_pos, None, parsed)
    frame["amount"] = parsed["amount"].to_numpy()
    c.changes = _kept_changes(frame)


def _kept_changes(frame: pd.DataFrame) -> pd.DataFrame:
    """Of rows giving a deal's expected close, amount and (optionally) outcome at moments (deal_id, entered_at,
    expected_close, amount, outcome, file, row), the changes: each deal's first value of each, then each value that
    differs from the one before."""
    frame = frame[(frame["deal_id"] != "") & frame["entered_at"].notna()]
    frame = frame.sort_values(["deal_id", "entered_at"], kind="stable").copy()
    if "outcome" not in frame:
        frame["outcome"] = None
    for column in ("expected_close", "amount", "outcome"):
        before = frame.groupby("deal_id", sort=False)[column].shift()
        frame[column] = frame[column].where(frame[column].notna() & (before.isna() | (frame[column] != before)))
    return frame[frame["expected_close"].notna() | frame["amount"].notna() | frame["outcome"].notna()].reset_index(
        drop=True)


def _reopened_outcomes(seen: pd.DataFrame, given: pd.Series) -> pd.Series:
    """Each snapshot's outcome, kept only for the deals a later snapshot shows open again after one showed them
    won or lost (a reopened deal): the others' outcome is their latest, and their close date says when."""
    outcome = pd.Series(np.where(seen["target"] == WON, WON, np.where(seen["target"] == LOST, LOST,
                                                                      given.fillna(OPEN))), index=seen.index)
    closed_before = (outcome != OPEN).astype(int).groupby(seen["deal_id"], sort=False).cummax().shift().fillna(0)
    same_deal = seen["deal_id"].eq(seen["deal_id"].shift())
    reopened = seen.loc[(outcome == OPEN) & (closed_before == 1) & same_deal, "deal_id"].unique()
    return outcome.where(seen["deal_id"].isin(reopened))


def reconcile(c: Converter, t: SourceTable, stage: pd.Series, outcome: pd.Series, stage_pos: int,
              decided_by: str) -> pd.Series:
    """Where the stage says won or lost and the outcome columns say otherwise (a Salesforce StageName of
    Closed Won beside IsWon false): the outcome columns decide, the stage name is not taken as a stage of that
    deal, and one warning counts the rows and names the first few (docs/crm-exports.md)."""
    says = stage.where(stage.isin([WON, LOST]))
    disagree = (says.notna() & (says != outcome)).to_numpy()
    if not disagree.any():
        return stage
    rows = t.rows[disagree]
    shown = ", ".join(str(r) for r in rows[:5]) + (" …" if len(rows) > 5 else "")
    header = t.header[stage_pos]
    c.warnings.append(RowIssue(
        t.name, int(rows[0]), header, clip_value(t.values(stage_pos).iloc[int(np.flatnonzero(disagree)[0])]),
        say("outcome_disagrees", header=header, decided_by=decided_by, n=len(rows), rows=shown)))
    return stage.where(~disagree)


def generic(c: Converter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any current-stage export: one row per deal with a stage or an outcome column (or both), optionally
    with a stage history file (deal, stage, date)."""
    p = c.profile
    hists = [t for t in c.tables if t.find(p.headers_for("history_at")) is not None
             and t.find(p.headers_for("amount")) is None and t.find(p.headers_for("outcome")) is None]
    opps = [t for t in c.tables if t not in hists]
    if len(opps) != 1 or len(hists) > 1:
        raise InputError(say("generic_files", deals=len(opps), histories=len(hists)))
    t = opps[0]
    c.roles = {t.name: "deals", **{h.name: "history" for h in hists}}
    dates = c.date_columns(t, ("created_at", "expected_close", "closed_at", "stage_changed_at"))
    if hists:
        dates += c.date_columns(hists[0], ("history_at",))
    c.set_date_order(dates)
    deals = c.base_deals(t, set())
    amounts(c, t, c.col(t, "amount"), c.col(t, "currency"), deals)
    deals["created_at"] = c.dates(t, c.col(t, "created_at"))
    stage_pos, outcome_pos = c.col(t, "stage"), c.col(t, "outcome")
    if stage_pos is None and outcome_pos is None:
        c.mapping_errors.append(RowIssue(t.name, 1, "stage", None, say("no_stage_column")))
    stage = (c.stage_targets(t, c.text(t, stage_pos), t.header[stage_pos]) if stage_pos is not None
             else pd.Series(None, index=t.frame.index, dtype=object))
    if outcome_pos is not None:
        outcome = outcomes(c, t, outcome_pos)
        if stage_pos is not None:
            stage = reconcile(c, t, stage, outcome, stage_pos, t.header[outcome_pos])
    else:
        outcome = pd.Series(np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN)),
                            index=t.frame.index)
    deals["outcome"] = outcome
    close = c.dates(t, c.col(t, "closed_at"))
    expected = c.dates(t, c.col(t, "expected_close"))
    deals["closed_at"] = close.where(deals["outcome"] != OPEN)
    # a single close-date column is the expected close of an open deal
    deals["expected_close"] = expected if "expected_close" in c.columns else close.where(
        deals["outcome"] == OPEN)
    changed = c.dates(t, c.col(t, "stage_changed_at"))
    current = current_stage(deals, stage, changed.fillna(deals["created_at"]).fillna(deals["closed_at"]), t)
    if not hists:
        return deals, stage_events_from_steps(current)
    if "key_columns" in c.columns:  # derived keys: nothing links the history's rows to the deals
        c.mapping_errors.append(RowIssue(hists[0].name, 1, None, None, say("history_needs_id")))
        return deals, no_events()
    return deals, with_history(c, hists[0], current)


def flag(c: Converter, t: SourceTable, pos: int) -> pd.Series:
    values = t.values(pos).str.lower()
    bad = ~values.isin(_TRUE | _FALSE)
    for i in np.flatnonzero(bad.to_numpy()):
        c.errors.append(RowIssue(t.name, int(t.rows[i]), t.header[pos], clip_value(t.values(pos).iloc[i]),
                                 say("not_true_or_false")))
    return values.isin(_TRUE)


def hubspot(c: Converter) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(c.tables) != 1:
        raise InputError(say("hubspot_files", n=len(c.tables)))
    t = c.tables[0]
    c.roles = {t.name: "deals"}
    entered = [(pos, m.group(1)) for pos, h in enumerate(t.header) if (m := _DATE_ENTERED.match(h))]
    dates = c.date_columns(t, ("created_at", "close_date")) + [DateColumn(t, pos) for pos, _ in entered]
    c.set_date_order(dates)
    used = {pos for pos, _ in entered}
    deals = c.base_deals(t, used)
    amounts(c, t, c.col(t, "amount"), c.col(t, "currency"), deals)
    deals["created_at"] = c.dates(t, c.col(t, "created_at"))
    close = c.dates(t, c.col(t, "close_date"))
    stage_pos = c.col(t, "stage", required=True)
    pipeline = c.text(t, c.col(t, "pipeline"))
    labels = c.text(t, stage_pos)
    qualified = labels.where((pipeline == "") | (labels == ""), labels + " (" + pipeline + ")")
    stage = c.stage_targets(t, qualified, t.header[stage_pos] if stage_pos is not None else "")
    deals["outcome"] = np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN))
    deals["closed_at"] = close.where(deals["outcome"] != OPEN)
    deals["expected_close"] = close.where(deals["outcome"] == OPEN)
    steps = []
    for pos, label in entered:
        at = c.dates(t, pos)
        has = at.notna()
        if not has.any():
            continue
        target = c.profile.stage_for(label)
        c.count_stage(label, target, t, has.to_numpy(), t.header[pos])
        steps.append(pd.DataFrame({"deal_id": deals["deal_id"][has], "target": target, "at": at[has],
                                   "file": t.name, "row": t.rows[has.to_numpy()]}))
    found = pd.concat(steps, ignore_index=True) if steps else no_steps()
    current = current_stage(deals, stage, deals["created_at"], t)
    without = current[~current["deal_id"].isin(found["deal_id"])]
    return deals, stage_events_from_steps(pd.concat([found, without], ignore_index=True))


def dynamics365(c: Converter) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(c.tables) != 1:
        raise InputError(say("dynamics_files", n=len(c.tables)))
    t = c.tables[0]
    c.roles = {t.name: "deals"}
    c.set_date_order(c.date_columns(t, ("created_at", "modified_at", "expected_close", "actual_close")))
    deals = c.base_deals(t, set())
    status_pos = c.col(t, "status", required=True)
    outcome = outcomes(c, t, status_pos) if status_pos is not None else pd.Series(OPEN, index=t.frame.index)
    deals["outcome"] = outcome
    amounts(c, t, c.col(t, "amount"), c.col(t, "currency"), deals)
    actual_pos = c.col(t, "actual_revenue")
    if actual_pos is not None:
        actual = pd.DataFrame(index=t.frame.index)
        amounts(c, t, actual_pos, None, actual)
        use = (deals["outcome"] == WON) & actual["amount"].notna()
        deals.loc[use, "amount"] = actual.loc[use, "amount"]
    deals["created_at"] = c.dates(t, c.col(t, "created_at"))
    deals["expected_close"] = c.dates(t, c.col(t, "expected_close"))
    deals["closed_at"] = c.dates(t, c.col(t, "actual_close")).where(deals["outcome"] != OPEN)
    reason = c.text(t, c.col(t, "status_reason"))
    deals["lost_reason"] = deals["lost_reason"].where(deals["lost_reason"] != "",
                                                      reason.where(deals["outcome"] == LOST, ""))
    stage_pos = c.col(t, "stage")
    stage = c.stage_targets(t, c.text(t, stage_pos), t.header[stage_pos] if stage_pos is not None else "")
    modified = c.dates(t, c.col(t, "modified_at")).fillna(deals["created_at"])
    at = modified.where(deals["closed_at"].isna() | (modified <= deals["closed_at"]), deals["closed_at"])
    current = pd.DataFrame({"deal_id": deals["deal_id"], "target": stage, "at": at, "file": t.name,
                            "row": t.rows})
    signed = pd.DataFrame({"deal_id": deals["deal_id"], "target": WON, "at": deals["closed_at"],
                           "file": t.name, "row": t.rows})[(deals["outcome"] == WON) & deals["closed_at"].notna()]
    return deals, stage_events_from_steps(pd.concat([current, signed], ignore_index=True))


def snapshots(c: Converter) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = []
    c.set_date_order([column for t in c.tables
                      for column in c.date_columns(t, ("snapshot_date", "created_at", "close_date"))])
    for t in c.tables:
        c.roles[t.name] = "snapshot"
        deals = c.base_deals(t, set())
        amounts(c, t, c.col(t, "amount"), c.col(t, "currency"), deals)
        deals["created_at"] = c.dates(t, c.col(t, "created_at"))
        deals["close_date"] = c.dates(t, c.col(t, "close_date"))
        snap_pos = c.col(t, "snapshot_date")
        if snap_pos is not None:
            deals["snapshot"] = c.dates(t, snap_pos)
        else:
            m = _DATE_IN_NAME.search(t.name)
            if m is None:
                c.mapping_errors.append(RowIssue(t.name, 1, "snapshot_date", None, say("no_snapshot_date")))
                continue
            deals["snapshot"] = pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        stage_pos = c.col(t, "stage", required=True)
        deals["target"] = c.stage_targets(t, c.text(t, stage_pos),
                                             t.header[stage_pos] if stage_pos is not None else "")
        outcome_pos = c.col(t, "outcome")
        if outcome_pos is not None:
            deals["given_outcome"] = outcomes(c, t, outcome_pos)
        deals["file"], deals["row"] = t.name, t.rows
        frames.append(deals)
    if not frames:
        return no_deals(), no_events()
    seen = pd.concat(frames, ignore_index=True).sort_values(["deal_id", "snapshot", "file", "row"],
                                                            kind="stable")
    seen = seen[seen["deal_id"] != ""]
    steps = seen[["deal_id", "target", "file", "row"]].assign(at=seen["snapshot"])
    # each snapshot's close date and amount: the deal's expected close (while open) and amount on that date
    given_seen = seen["given_outcome"] if "given_outcome" in seen else pd.Series(None, index=seen.index, dtype=object)
    c.changes = _kept_changes(pd.DataFrame({
        "deal_id": seen["deal_id"], "entered_at": seen["snapshot"],
        "expected_close": seen["close_date"].where(~seen["target"].isin([WON, LOST])), "amount": seen["amount"],
        "outcome": _reopened_outcomes(seen, given_seen), "file": seen["file"], "row": seen["row"]}))
    latest = seen.groupby("deal_id", sort=False).tail(1).copy()
    first_seen = seen.groupby("deal_id", sort=False)["snapshot"].min()
    latest["created_at"] = latest["created_at"].fillna(latest["deal_id"].map(first_seen))
    given = latest["given_outcome"] if "given_outcome" in latest else pd.Series(None, index=latest.index,
                                                                                 dtype=object)
    latest["outcome"] = np.where(latest["target"] == WON, WON, np.where(
        latest["target"] == LOST, LOST, given.fillna(OPEN)))
    # closed when first seen in the final closed state, unless the export gives a close date
    final = seen["deal_id"].map(latest.set_index("deal_id")["target"])
    closed_first = seen[seen["target"] == final].groupby("deal_id")["snapshot"].min()
    closed_at = latest["close_date"].fillna(latest["deal_id"].map(closed_first))
    latest["closed_at"] = closed_at.where(latest["outcome"] != OPEN)
    latest["expected_close"] = latest["close_date"].where(latest["outcome"] == OPEN)
    latest = latest.drop(columns=["snapshot", "target", "close_date", *(["given_outcome"] if "given_outcome"
                                                                          in latest else [])])
    c.deal_rows = list(zip(latest.pop("file"), latest.pop("row")))
    return latest.reset_index(drop=True), stage_events_from_steps(steps)


# One reader per preset: the converter calls the profile's.
READERS = {"salesforce": salesforce, "hubspot": hubspot, "dynamics365": dynamics365, "snapshots": snapshots,
           "generic": generic}


_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")




_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
