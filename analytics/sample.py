"""Sample data with known truth: a seeded simulation of key-account deals moving through the eight stages.

Each deal belongs to an account with a tier, region and industry, and is scored on the nine evaluation factors.
At every stage s = 1..7 it passes the stage's exit with probability

    p_s(deal) = sigmoid(logit(BASE_CONVERSION[s]) + TIER_EFFECT[tier] + factor_effect · Σ_f β_f · (score_f − 3))

and is otherwise lost there; passing stage 7 is signing (stage 8, won). Time in each stage is lognormal and depends
on the stage only, not on the outcome, so deals still open at the as-of date are censored independently of how they
would end: the honest estimators are then unbiased, and truth.json gives the population values they estimate.

Recording noise that does not change any deal's fate: some passed stages are never recorded (skips), and some deals
step back one stage and return (backward moves, re-entries). The CRM was adopted a year into the history: recent deals were
migrated with their full history; older ones closed before then are not in the export, and older ones open then
were entered at the stage they were in that day, so their histories start mid-way, months after creation (left
truncation, decided by time and never by fate).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from analytics.domain import FACTOR_KEYS, TIER_KEYS

# Bumped whenever the generator writes different data for the same parameters (2: close-date and amount changes)
GENERATOR_VERSION = 2
BASE_CONVERSION = (0.85, 0.85, 0.80, 0.80, 0.75, 0.70, 0.72)  # stage 1..7 exit, for a tier-C deal scoring 3s
TIER_SHARE = (0.15, 0.30, 0.35, 0.20)
TIER_EFFECT = (0.5, 0.2, 0.0, -0.3)
TIER_MEDIAN_AMOUNT = (800_000.0, 400_000.0, 200_000.0, 100_000.0)
FACTOR_BETA = {"project_level": 0.10, "funding": 0.25, "tech_fit": 0.20, "relationship": 0.30, "credit": 0.10,
               "product": 0.15, "price": 0.20, "solution": 0.20, "service": 0.05}
SCORE_PROBABILITY = (0.10, 0.20, 0.40, 0.20, 0.10)  # scores 1..5
STAGE_MEDIAN_DAYS = (10.0, 18.0, 21.0, 28.0, 35.0, 25.0, 20.0)
STAGE_DAYS_SIGMA = 0.6
SKIP_PROBABILITY = 0.05  # a passed stage 2..6 goes unrecorded
BACKWARD_PROBABILITY = 0.05  # at stages 3..7: step back one stage, then return
CRM_ADOPTION_YEARS = 1.0  # the CRM was adopted this long after the history begins
MIGRATED_DAYS = 60  # deals created this close before the adoption came over with their full history
# Close dates that slip: the share of deals whose expected close is pushed later at least once, by how the deal
# ends (a deal that will be lost slips more often), times its owner's tendency; a pushed deal is pushed 1 + Poisson
# more times, each by PUSH_DAYS. Amounts: some deals' amount is revised once, by a lognormal factor.
PUSH_PROBABILITY = {"won": 0.25, "lost": 0.45}
OWNER_PUSH_FACTORS = (0.6, 1.0, 1.6)  # owners are, in turn, steadier, typical and given to slipping
EXTRA_PUSHES_MEAN = 0.5
PUSH_DAYS = (14, 60)
AMOUNT_CHANGE_PROBABILITY = 0.30
AMOUNT_CHANGE_SIGMA = 0.25
REGIONS = ("East", "North", "South", "West", "Central")
INDUSTRIES = ("Manufacturing", "Energy", "Finance", "Healthcare", "Government", "Telecom", "Retail")
LOST_REASONS = ("price", "competitor", "budget cut", "no decision", "timing", "technical fit")
_ACCOUNT_ZH = ("华东电力", "北方制造", "南方电网", "西部能源", "中原医疗", "东海银行", "长江通信", "珠江零售")
_ACCOUNT_EN = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne")


@dataclass(frozen=True)
class SampleParameters:
    deals: int = 3000
    seed: int = 1
    as_of: str = "2026-11-27"
    years: float = 4.0
    factor_effect: float = 1.0  # 0: the nine factors carry no signal
    base_conversion: tuple[float, ...] = BASE_CONVERSION
    tier_effect: tuple[float, ...] = TIER_EFFECT
    factor_beta: dict[str, float] = field(default_factory=lambda: dict(FACTOR_BETA))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1.0 - p))


def _factor_effect_distribution(params: SampleParameters) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution of Σ β_f (score_f − 3) over independent scores: values and probabilities."""
    values, probs = np.zeros(1), np.ones(1)
    scores = np.arange(1, 6) - 3
    for f in FACTOR_KEYS:
        beta = params.factor_beta[f] * params.factor_effect
        v = (values[:, None] + beta * scores[None, :]).ravel()
        p = (probs[:, None] * np.array(SCORE_PROBABILITY)[None, :]).ravel()
        v = np.round(v, 9)
        values, inverse = np.unique(v, return_inverse=True)
        probs = np.bincount(inverse, weights=p)
    return values, probs


def population_truth(params: SampleParameters) -> dict:
    """The population values the analytics estimate, computed exactly from the generating distribution."""
    eta, w = _factor_effect_distribution(params)
    reach = np.zeros(9)  # reach[s] = P(a deal reaches stage s), s = 1..8
    for t, (share, effect) in enumerate(zip(TIER_SHARE, params.tier_effect)):
        logits = _logit(np.array(params.base_conversion))[None, :] + effect + eta[:, None]
        pass_prob = _sigmoid(logits)  # (n_eta, 7)
        cumulative = np.cumprod(pass_prob, axis=1)  # P(pass 1..s)
        reach[1] += share
        reach[2:9] += share * (w @ cumulative)
    conversion = {s: reach[s + 1] / reach[s] for s in range(1, 8)}
    win_given_reached = {s: reach[8] / reach[s] for s in range(1, 8)}
    # Keys are stage numbers as strings, as they read back from truth.json.
    return {
        "reach_probability": {str(s): float(reach[s]) for s in range(1, 9)},
        "conversion": {str(s): float(v) for s, v in conversion.items()},
        "cumulative_conversion": {str(s): float(reach[s]) for s in range(1, 9)},
        "win_given_reached": {str(s): float(v) for s, v in win_given_reached.items()},
        "preferred_supplier_win_rate": float(win_given_reached[7]),
    }


def generate(params: SampleParameters, *, with_fates: bool = False):
    """Simulate the deals and their recorded stage history. Returns (deals DataFrame, history DataFrame), and with
    `with_fates` a third: each exported deal's owner, amount, eventual close and whether it is won, open deals'
    included (what the simulated sales team's calls and targets are drawn from: analytics.sample_plans)."""
    import pandas as pd

    rng = np.random.default_rng(params.seed)
    # Deals closed before the CRM's adoption are not exported: simulate enough to export params.deals of them.
    export_share = max(0.2, 1 - CRM_ADOPTION_YEARS / params.years) if params.years > CRM_ADOPTION_YEARS else 1.0
    n = int(params.deals / export_share * 1.1) + 50
    as_of = np.datetime64(params.as_of, "s")
    span_s = int(params.years * 365 * 86400)

    # Accounts: a tier, region, industry and owner each.
    n_accounts = max(20, n // 6)
    acc_tier = rng.choice(4, size=n_accounts, p=TIER_SHARE)
    acc_region = rng.integers(0, len(REGIONS), n_accounts)
    acc_industry = rng.integers(0, len(INDUSTRIES), n_accounts)
    n_owners = int(min(60, max(5, n // 400)))
    acc_owner = rng.integers(0, n_owners, n_accounts)
    names = np.where(rng.random(n_accounts) < 0.5,
                     np.array(_ACCOUNT_ZH)[rng.integers(0, len(_ACCOUNT_ZH), n_accounts)],
                     np.array(_ACCOUNT_EN)[rng.integers(0, len(_ACCOUNT_EN), n_accounts)])
    account_names = np.char.add(np.char.add(names.astype(str), " "), np.arange(1, n_accounts + 1).astype(str))

    acc = rng.integers(0, n_accounts, n)
    tier = acc_tier[acc]
    scores = rng.choice(np.arange(1, 6), size=(n, len(FACTOR_KEYS)), p=SCORE_PROBABILITY)
    beta = np.array([params.factor_beta[f] for f in FACTOR_KEYS]) * params.factor_effect
    eta = np.array(params.tier_effect)[tier] + (scores - 3) @ beta
    pass_prob = _sigmoid(_logit(np.array(params.base_conversion))[None, :] + eta[:, None])  # (n, 7)
    passed = rng.random((n, 7)) < pass_prob
    # Fate: the first stage not passed is where the deal is lost; passing all seven is a win.
    fails = ~passed
    lost_stage = np.where(fails.any(axis=1), fails.argmax(axis=1) + 1, 0)  # 0 = won
    furthest = np.where(lost_stage == 0, 8, lost_stage)

    durations = np.exp(np.log(np.array(STAGE_MEDIAN_DAYS))[None, :]
                       + STAGE_DAYS_SIGMA * rng.standard_normal((n, 7))) * 86400  # seconds, stage 1..7
    created = as_of - rng.integers(0, span_s, n).astype("timedelta64[s]")
    created = created.astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(9 * 3600, "s")
    entry = np.zeros((n, 9), dtype="datetime64[s]")  # entry[:, s] = time stage s entered (s = 1..8)
    entry[:, 1] = created
    for s in range(2, 9):
        entry[:, s] = entry[:, s - 1] + durations[:, s - 2].astype("timedelta64[s]")
    rows = np.arange(n)
    # A lost deal closes when its time in the losing stage is up; a won deal when it enters stage 8.
    lost_at = entry[rows, furthest] + durations[rows, np.clip(furthest - 1, 0, 6)].astype("timedelta64[s]")
    close_time = np.where(lost_stage == 0, entry[:, 8], lost_at)
    closed = close_time <= as_of
    outcome = np.where(~closed, "open", np.where(lost_stage == 0, "won", "lost"))

    # Recorded events: each entered stage up to the furthest, entered by the as-of date.
    ev_deal, ev_stage, ev_time = [], [], []
    skip = rng.random((n, 9)) < SKIP_PROBABILITY
    for s in range(1, 9):
        mask = (furthest >= s) & (entry[:, s] <= as_of)
        if 2 <= s <= 6:
            mask &= ~(skip[:, s] & (furthest > s))  # only a stage the deal went on to pass can go unrecorded
        idx = np.nonzero(mask)[0]
        ev_deal.append(idx)
        ev_stage.append(np.full(idx.size, s))
        ev_time.append(entry[idx, s])
    # Backward moves: from stage s (3..7), back to s−1 midway, and in again to s three quarters through.
    back = (rng.random(n) < BACKWARD_PROBABILITY)
    back_stage = rng.integers(3, 8, n)
    has_back = back & (furthest > back_stage) & (entry[np.arange(n), np.minimum(back_stage + 1, 8)] <= as_of)
    idx = np.nonzero(has_back)[0]
    bs = back_stage[idx]
    d = durations[idx, bs - 1].astype("timedelta64[s]")
    for stage_, t in ((bs - 1, entry[idx, bs] + d // 2), (bs, entry[idx, bs] + (d * 3) // 4)):
        ev_deal.append(idx)
        ev_stage.append(stage_)
        ev_time.append(t)
    ev_deal = np.concatenate(ev_deal)
    ev_stage = np.concatenate(ev_stage)
    ev_time = np.concatenate(ev_time)

    # CRM adoption: deals created in the MIGRATED_DAYS before it were migrated with their full history; older
    # deals closed before it are absent, and older deals open then were entered at their stage on that day.
    # A history shorter than the adoption period starts with the CRM: nothing before it to leave out (it put the
    # adoption after the as-of date, and `--years 0.5` wrote 92 deals instead of 300).
    adoption = crm_adoption(params)
    migrated = created >= adoption - np.timedelta64(MIGRATED_DAYS * 86400, "s")
    in_export = np.zeros(n, dtype=bool)
    in_export[np.nonzero(migrated | (close_time >= adoption))[0][:params.deals]] = True  # the first N
    truncated = in_export & ~migrated
    before = ev_time < adoption
    keep = in_export[ev_deal] & ~(before & truncated[ev_deal])
    # the stage each truncated deal was in at adoption: its latest entry before then
    pre = np.nonzero(before & truncated[ev_deal])[0]
    order_pre = pre[np.lexsort((ev_stage[pre], ev_time[pre]))]
    at_adoption_stage = np.zeros(n, dtype=int)
    at_adoption_stage[ev_deal[order_pre]] = ev_stage[order_pre]  # later entries overwrite earlier ones
    carried = np.nonzero(at_adoption_stage > 0)[0]
    ev_deal = np.concatenate([ev_deal[keep], carried])
    ev_stage = np.concatenate([ev_stage[keep], at_adoption_stage[carried]])
    ev_time = np.concatenate([ev_time[keep], np.full(carried.size, adoption)])
    order = np.lexsort((ev_stage, ev_time, ev_deal))

    number = np.cumsum(in_export)  # exported deals are numbered D0000001, D0000002, … in order
    deal_ids = np.char.add("D", np.char.zfill(number.astype(str), 7))
    median_cycle = float(np.sum(STAGE_MEDIAN_DAYS))
    expected_close = created + (median_cycle * np.exp(0.3 * rng.standard_normal(n)) * 86400).astype("timedelta64[s]")
    amount = np.round(np.array(TIER_MEDIAN_AMOUNT)[tier] * np.exp(0.8 * rng.standard_normal(n)), -2)
    lost_reason = np.where(outcome == "lost", np.array(LOST_REASONS)[rng.integers(0, len(LOST_REASONS), n)], "")

    deals = pd.DataFrame({
        "deal_id": deal_ids,
        "account": account_names[acc],
        "tier": np.array(TIER_KEYS)[tier],
        "owner": np.char.add("Owner ", (acc_owner[acc] + 1).astype(str)),
        "region": np.array(REGIONS)[acc_region[acc]],
        "industry": np.array(INDUSTRIES)[acc_industry[acc]],
        "amount": amount,
        "currency": "CNY",
        "created_at": created.astype("datetime64[D]").astype(str),
        "expected_close": expected_close.astype("datetime64[D]").astype(str),
        "closed_at": np.where(closed, close_time.astype("datetime64[D]").astype(str), ""),
        "outcome": outcome,
        "lost_reason": lost_reason,
        **{f: scores[:, i] for i, f in enumerate(FACTOR_KEYS)},
    })
    deals = deals[in_export].reset_index(drop=True)
    history = pd.DataFrame({
        "deal_id": deal_ids[ev_deal[order]],
        "stage": ev_stage[order],
        "entered_at": np.datetime_as_string(ev_time[order], unit="s"),
    })
    history["entered_at"] = history["entered_at"].str.replace("T", " ", regex=False)
    changes = _close_date_and_amount_changes(params, in_export, deal_ids, lost_stage, acc_owner[acc], created,
                                             close_time, closed, adoption, expected_close, amount, as_of)
    history = pd.concat([history, changes], ignore_index=True).sort_values(["deal_id", "entered_at"], kind="stable")
    history = history.reset_index(drop=True)
    if not with_fates:
        return deals, history
    fates = pd.DataFrame({"owner": deals["owner"], "amount": amount[in_export],
                          "closes": close_time[in_export].astype("datetime64[D]"),
                          "won": (lost_stage == 0)[in_export]})
    return deals, history, fates


def crm_adoption(params: SampleParameters) -> np.datetime64:
    """When the team adopted the CRM: the export's histories, and its recorded close-date and amount changes, start
    then. A history shorter than the adoption period starts with the CRM."""
    since_adoption = params.years - CRM_ADOPTION_YEARS if params.years > CRM_ADOPTION_YEARS else params.years
    return np.datetime64(params.as_of, "s") - np.timedelta64(int(since_adoption * 365 * 86400), "s")


def push_probability(fate: str, owner: int) -> float:
    """P(a deal's expected close is pushed at least once): by how it ends, times its owner's factor (owners are
    numbered from 0: owner k has factor OWNER_PUSH_FACTORS[k % 3])."""
    return min(1.0, PUSH_PROBABILITY[fate] * OWNER_PUSH_FACTORS[owner % len(OWNER_PUSH_FACTORS)])


def _close_date_and_amount_changes(params, in_export, deal_ids, lost_stage, owner, created, close_time, closed,
                                   adoption, expected_close, amount, as_of):
    """History rows without a stage: each deal's first expected close and amount when its recorded history begins
    (its creation, or the CRM's adoption), then each push of the close date and the amount's revision, all before
    the deal closed and before the as-of date. The deals file keeps the latest values. A separate random stream:
    the deals and their stage history are the same with or without these rows."""
    import pandas as pd

    rng = np.random.default_rng([params.seed, 18])
    n = len(created)
    fate = np.where(lost_stage == 0, "won", "lost")
    p_push = np.array([push_probability(f, int(o)) for f, o in zip(fate, owner)])
    pushes = np.where(rng.random(n) < p_push, 1 + rng.poisson(EXTRA_PUSHES_MEAN, n), 0)
    revised = rng.random(n) < AMOUNT_CHANGE_PROBABILITY
    factor = np.exp(AMOUNT_CHANGE_SIGMA * rng.standard_normal(n))
    start = np.maximum(created, adoption)
    end = np.minimum(close_time, as_of)
    span = np.maximum((end - start).astype("timedelta64[s]").astype(np.int64), 0)
    final_close = expected_close.astype("datetime64[D]")
    rows = []
    for i in np.nonzero(in_export)[0]:
        k = int(pushes[i]) if span[i] > 0 else 0
        moments = np.sort(start[i] + (rng.random(k) * span[i]).astype("timedelta64[s]")) if k else []
        steps = rng.integers(PUSH_DAYS[0], PUSH_DAYS[1] + 1, k)
        close = final_close[i] - np.timedelta64(int(steps.sum()), "D")  # the first expected close
        first_amount = float(np.round(amount[i] / factor[i], -2)) if revised[i] and span[i] > 0 else amount[i]
        rows.append((deal_ids[i], start[i], str(close), first_amount))
        for moment, step in zip(moments, steps):
            close = close + np.timedelta64(int(step), "D")
            rows.append((deal_ids[i], moment, str(close), None))
        if revised[i] and span[i] > 0:
            rows.append((deal_ids[i], start[i] + np.timedelta64(int(rng.random() * span[i]), "s"), None, amount[i]))
    frame = pd.DataFrame(rows, columns=["deal_id", "entered_at", "expected_close", "amount"])
    frame["entered_at"] = np.datetime_as_string(frame["entered_at"].to_numpy("datetime64[s]"), unit="s")
    frame["entered_at"] = frame["entered_at"].str.replace("T", " ", regex=False)
    frame.insert(1, "stage", pd.NA)
    return frame


def write_sample(out_dir: str | Path, params: SampleParameters) -> dict:
    """Write deals.csv, stage_history.csv and truth.json into out_dir; returns the truth."""
    import duckdb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from analytics.sample_plans import write_plans

    deals, history, fates = generate(params, with_fates=True)
    plans_truth = write_plans(out, params, fates, date.fromisoformat(str(crm_adoption(params))[:10]))
    con = duckdb.connect()
    con.register("deals_df", deals)
    con.register("history_df", history)
    # DuckDB writes large CSVs far faster than pandas.
    con.execute("COPY deals_df TO ? (HEADER, DELIMITER ',')", [str(out / "deals.csv")])
    con.execute("COPY history_df TO ? (HEADER, DELIMITER ',')", [str(out / "stage_history.csv")])
    con.close()
    truth = {
        "parameters": {**asdict(params), "base_conversion": list(params.base_conversion),
                       "tier_effect": dict(zip(TIER_KEYS, params.tier_effect)),
                       "tier_share": dict(zip(TIER_KEYS, TIER_SHARE)),
                       "stage_median_days": list(STAGE_MEDIAN_DAYS), "skip_probability": SKIP_PROBABILITY,
                       "backward_probability": BACKWARD_PROBABILITY, "crm_adoption_years": CRM_ADOPTION_YEARS},
        "population": population_truth(params),
        # a deal's pushes are recorded from the CRM's adoption on: one closed before it (migrated with its stage
        # history) has none recorded, whatever push_probability says
        "changes": {"recorded_from": str(crm_adoption(params)).replace("T", " "),
                    "push_probability": PUSH_PROBABILITY, "owner_push_factors": list(OWNER_PUSH_FACTORS),
                    "extra_pushes_mean": EXTRA_PUSHES_MEAN, "push_days": list(PUSH_DAYS),
                    "amount_change_probability": AMOUNT_CHANGE_PROBABILITY,
                    "amount_change_sigma": AMOUNT_CHANGE_SIGMA},
        "plans": plans_truth,
        "counts": {"deals": int(len(deals)), "stage_events": int(history["stage"].notna().sum()),
                   "deal_changes": int(history["expected_close"].notna().sum() + history["amount"].notna().sum()),
                   **{o: int((deals["outcome"] == o).sum()) for o in ("won", "lost", "open")}},
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False), encoding="utf-8")
    return truth

