"""The simulated sales team's plans, beside the sample deals (analytics.sample): each owner's quarterly target, the
teams, and the forecast calls each owner makes, with a bias of their own.

- Targets: for every quarter from the first full one after the CRM's adoption to the as-of date's, each owner's target is their mean
  quarterly bookings over the simulation times a lognormal factor (σ = TARGET_SIGMA): some owners' quarters are
  easy, some hard.
- Teams: owners in turn, TEAM_SIZE to a team ("Team A", "Team B", …), each with a manager.
- Calls: before each quarter began, and before weeks 4, 8 and 12 (analytics.forecasting.backtest.SCORED_WEEKS),
  each owner calls a commit of what the quarter will in the end book × exp(bias + noise), the noise shrinking as the
  quarter goes on (CALL_NOISE), and a best case 15–30% above. Owner k's bias is CALL_BIAS[k % 4]: a sandbagger,
  an accurate caller, a hopeful one and an over-caller. Only calls made by the as-of date are written.
A separate random stream: the deals are the same with or without these files."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np

TARGET_SIGMA = 0.25
TEAM_SIZE = 4
CALL_BIAS = (-0.20, 0.0, 0.10, 0.30)  # log commit / actual, by owner number % 4
CALL_NOISE = (0.30, 0.22, 0.14, 0.07)  # its spread before the quarter and at weeks 4, 8, 12
CALL_WEEKS = (1, 4, 8, 12)
BEST_CASE_UPLIFT = (1.15, 1.30)


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def _quarter_start(year: int, q: int) -> date:
    return date(year, 3 * (q - 1) + 1, 1)


def _owner_number(owner: str) -> int:
    return int(owner.rsplit(" ", 1)[-1]) - 1  # "Owner 3" is owner 2, as analytics.sample numbers them


def write_plans(out: Path, params, fates, adoption: date) -> dict:
    """Write targets.csv, teams.csv and calls.csv into `out`, from `fates` (analytics.sample.generate's) and the
    CRM's adoption; returns what truth.json says of them."""
    import pandas as pd

    rng = np.random.default_rng([params.seed, 19])
    as_of = date.fromisoformat(params.as_of)
    first = _quarter(adoption)
    quarters = []
    year, q = (first[0] + 1, 1) if first[1] == 4 else (first[0], first[1] + 1)  # the first full quarter
    while (year, q) <= _quarter(as_of):
        quarters.append((year, q))
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    won = fates[fates["won"]]
    closes = pd.to_datetime(won["closes"])
    booked = won.assign(period=closes.dt.year.astype(str) + "Q" + ((closes.dt.month - 1) // 3 + 1).astype(str))
    bookings = booked.groupby(["owner", "period"])["amount"].sum()
    owners = sorted(fates["owner"].dropna().unique(), key=_owner_number)
    periods = [f"{y}Q{k}" for y, k in quarters]
    mean_quarter = {o: float(bookings.get(o, pd.Series(dtype=float)).reindex(periods, fill_value=0).mean())
                    for o in owners}

    targets = [(p, o, float(np.round(mean_quarter[o] * np.exp(TARGET_SIGMA * rng.standard_normal()), -4)))
               for p in periods for o in owners]
    teams = [(o, f"Team {chr(65 + i // TEAM_SIZE)}", f"Manager {chr(65 + i // TEAM_SIZE)}")
             for i, o in enumerate(owners)]
    manager_of = {owner: manager for owner, _, manager in teams}
    calls = []
    for (y, k), period in zip(quarters, periods):
        start = _quarter_start(y, k)
        for o in owners:
            actual = float(bookings.get((o, period), 0.0))
            bias = CALL_BIAS[_owner_number(o) % len(CALL_BIAS)]
            for week, noise in zip(CALL_WEEKS, CALL_NOISE):
                day = start - timedelta(days=2) + timedelta(days=7 * (week - 1))  # the day before week w's count
                if day > as_of or actual <= 0:
                    continue
                commit = float(np.round(actual * np.exp(bias + noise * rng.standard_normal()), -4))
                best = float(np.round(commit * rng.uniform(*BEST_CASE_UPLIFT), -4))
                calls.append((period, o, commit, best, f"week {week}", manager_of[o], day.isoformat()))
    pd.DataFrame(targets, columns=["period", "owner", "target"]).to_csv(out / "targets.csv", index=False)
    pd.DataFrame(teams, columns=["owner", "team", "manager"]).to_csv(out / "teams.csv", index=False)
    pd.DataFrame(calls, columns=["period", "owner", "commit", "best_case", "note", "entered_by", "called_at"]).to_csv(
        out / "calls.csv", index=False)
    return {"target_sigma": TARGET_SIGMA, "team_size": TEAM_SIZE,
            "call_bias": {o: CALL_BIAS[_owner_number(o) % len(CALL_BIAS)] for o in owners},
            "call_noise": dict(zip(map(str, CALL_WEEKS), CALL_NOISE)), "best_case_uplift": list(BEST_CASE_UPLIFT),
            "counts": {"targets": len(targets), "teams": len(teams), "calls": len(calls)}}
