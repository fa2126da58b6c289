"""How well the win model predicts, on deals it never saw: per stage and pooled, against the stage win rate and the
CRM's default stage probabilities (Brier, AUC, calibration), and the nine factors' odds ratios."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np

from analytics.domain import FACTOR_KEYS, SALESFORCE_DEFAULT_PROBABILITY
from analytics.filters import DealFilter
from analytics.forecasting.winmodel import FULL, SMALL_DATA, StageWinModel, fitted_on
from analytics.stats import Interval
from analytics.store.asof import MODEL_STAGES
from analytics.store.cache import persistable
from analytics.store.connection import Store
from analytics.store.training import training_rows, weighted_training_rows
from analytics.tables import records_frame

EVALUATION_ROWS_PER_STAGE = 100_000


# Validation ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    auc: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    n: int
    mean_predicted: float | None
    observed: float | None


@dataclass(frozen=True)
class StageValidation:
    stage: int
    n_train: int
    n_test: int
    mode: str
    auc: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None
    reliability: list[ReliabilityBin]
    baseline_stage_rate: Metrics
    baseline_crm_default: Metrics
    # the stage rate's Brier score less the model's on the same test deals, with its 95% interval (paired, by the
    # normal approximation): above 0, the model predicts better than the stage's win rate
    brier_gain: float | None = None
    brier_gain_ci: Interval | None = None
    # Spiegelhalter's calibration test: z ~ N(0, 1) when the probabilities are calibrated (a known null, which a
    # 10-bin ECE on a few hundred deals lacks: an oracle scores as badly); p two-sided
    calibration_z: float | None = None
    calibration_p: float | None = None


@dataclass(frozen=True)
class FactorEffect:
    factor: str
    odds_ratio: float | None  # per point of score (1–5)
    ci: Interval | None
    n: int
    p_value: float | None = None  # Wald test of odds ratio 1
    p_adjusted: float | None = None  # adjusted for the nine factors tested (Holm): one in nine excludes 1 by chance


@dataclass(frozen=True)
class ModelReport:
    stages: list[StageValidation]
    factors: list[FactorEffect]
    cutoff: date | None
    mode: str  # full, or small-data if any stage is
    note: str = ""
    pooled_ece: float | None = None
    pooled_reliability: list[ReliabilityBin] = field(default_factory=list)
    pooled_n_test: int = 0
    pooled_brier_gain: float | None = None
    pooled_brier_gain_ci: Interval | None = None
    pooled_calibration_z: float | None = None  # Spiegelhalter's, over every stage's test deals
    pooled_calibration_p: float | None = None

    @property
    def verdict(self) -> str:
        """'better' when the pooled gain's interval lies above 0, 'no_better' when it reaches 0 or below, 'untested'
        without enough test deals: what the Win model page and the CLI lead with."""
        if self.pooled_brier_gain_ci is None:
            return "untested"
        return "better" if self.pooled_brier_gain_ci[0] > 0 else "no_better"

    def to_frame(self):
        """One row per stage: stage, n_train, n_test, mode, auc, brier, log_loss, ece, brier_stage_rate and
        brier_crm_default (the baselines' Brier on the same test deals), brier_gain with its interval as _low and
        _high, calibration_z, calibration_p."""
        return records_frame(self.stages, ("stage", "n_train", "n_test", "mode", "auc", "brier", "log_loss", "ece"),
                             ("brier_gain_ci",), brier_stage_rate=[s.baseline_stage_rate.brier for s in self.stages],
                             brier_crm_default=[s.baseline_crm_default.brier for s in self.stages],
                             brier_gain=[s.brier_gain for s in self.stages],
                             calibration_z=[s.calibration_z for s in self.stages],
                             calibration_p=[s.calibration_p for s in self.stages])

    def to_json(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def spiegelhalter(y, p) -> tuple[float | None, float | None]:
    """Spiegelhalter's z = Σ (y − p)(1 − 2p) / √Σ (1 − 2p)² p (1 − p), and its two-sided p-value: under calibrated
    probabilities z is standard normal. None below 10 deals or when every p is ½."""
    y, p = np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    variance = float(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    if len(y) < 10 or variance <= 0:
        return None, None
    from scipy.stats import norm

    z = float(np.sum((y - p) * (1 - 2 * p)) / np.sqrt(variance))
    return z, float(2 * norm.sf(abs(z)))


# Fewer test deals than this, and the ECE (ten bins) is noise: it is withheld, and the test size shown instead.
MIN_TEST_FOR_ECE = 100


def brier_gain(y, p, q) -> tuple[float | None, Interval | None]:
    """The mean of (q − y)² − (p − y)² over paired test deals (q the baseline, p the model), with its 95% normal
    interval; None below 10 deals."""
    y, p, q = (np.asarray(a, dtype=float) for a in (y, p, q))
    if len(y) < 10:
        return None, None
    d = (q - y) ** 2 - (p - y) ** 2
    half = 1.959964 * float(d.std(ddof=1)) / np.sqrt(len(d))
    return float(d.mean()), (float(d.mean() - half), float(d.mean() + half))


def expected_calibration_error(y, p, bins: int = 10) -> tuple[float | None, list[ReliabilityBin]]:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        if n:
            mp, ob = float(p[m].mean()), float(y[m].mean())
            ece += n / len(y) * abs(mp - ob)
            table.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n, mp, ob))
        else:
            table.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), 0, None, None))
    return (ece if len(y) else None), table


def metrics(y, p) -> Metrics:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y, p = np.asarray(y), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    if len(y) == 0:
        return Metrics(None, None, None, None)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    return Metrics(auc, float(brier_score_loss(y, p)), float(log_loss(y, p, labels=[0, 1])),
                   expected_calibration_error(y, p)[0])


def validation_cutoff(rows, share: float = 0.7) -> date | None:
    closed = rows.drop_duplicates("deal_id")["closed_at"].dropna().sort_values()
    if closed.empty:
        return None
    return closed.iloc[min(len(closed) - 1, int(len(closed) * share))]


def factor_effects(rows, stage: int = 1, C: float = 100.0) -> list[FactorEffect]:
    """Odds ratio per score point for each of the nine factors, from a lightly penalised logistic fit at `stage`,
    adjusted for tier and amount; 95% intervals from the inverse penalised Fisher information."""
    part = rows[(rows["stage"] == stage)].dropna(subset=list(FACTOR_KEYS))
    if len(part) < 30 or part["won"].nunique() < 2:
        return [FactorEffect(f, None, None, len(part)) for f in FACTOR_KEYS]
    from sklearn.linear_model import LogisticRegression

    tiers = [t for t in ("B", "C", "D") if (part["tier"] == t).any() and (part["tier"] == "A").any()]
    X = np.column_stack([part[list(FACTOR_KEYS)].to_numpy(float), part["log_amount"].to_numpy(float),
                         *[(part["tier"] == t).to_numpy(float) for t in tiers]])
    y = part["won"].to_numpy()
    fit = LogisticRegression(C=C, max_iter=5000).fit(X, y)
    beta = np.concatenate([fit.intercept_, fit.coef_[0]])
    Xi = np.column_stack([np.ones(len(X)), X])
    p = 1 / (1 + np.exp(-Xi @ beta))
    info = Xi.T @ (Xi * (p * (1 - p))[:, None])
    info[1:, 1:] += np.eye(X.shape[1]) / C  # the L2 penalty; the intercept is not penalised
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    from scipy.stats import norm

    p_values = [float(2 * norm.sf(abs(beta[i + 1] / se[i + 1]))) for i in range(len(FACTOR_KEYS))]
    adjusted = holm(p_values)
    return [FactorEffect(f, float(np.exp(beta[i + 1])),
                         (float(np.exp(beta[i + 1] - 1.959964 * se[i + 1])),
                          float(np.exp(beta[i + 1] + 1.959964 * se[i + 1]))), len(part), p_values[i], adjusted[i])
            for i, f in enumerate(FACTOR_KEYS)]


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the k-th smallest p-value times (m − k + 1), kept monotone, at most 1."""
    order = np.argsort(p_values)
    m, running, out = len(p_values), 0.0, [0.0] * len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


@persistable
def evaluate(store: Store, filters: DealFilter = DealFilter(), *, share: float = 0.7, as_of: date | None = None,
             **model_args) -> ModelReport:
    """Train on deals closed before a cutoff (the `share` quantile of close dates), test on the pipeline open then.
    The model is the team's; `filters` choose the deals it is tested on (a segment's view of its accuracy)."""
    from analytics.analyses.funnel import data_as_of

    as_of = as_of or data_as_of(store) or date.today()
    # At most EVALUATION_ROWS_PER_STAGE rows a stage, a deterministic sample by deal: at a million deals all 2.7M
    # rows took 2.2 GB of memory, and 100,000 a stage measure AUC, Brier and calibration as well.
    everything = training_rows(store, as_of + timedelta(days=1), per_stage=EVALUATION_ROWS_PER_STAGE)
    cutoff = validation_cutoff(everything, share)
    if cutoff is None:
        empty = Metrics(None, None, None, None)
        return ModelReport([StageValidation(s, 0, 0, SMALL_DATA, None, None, None, None, [], empty, empty)
                            for s in MODEL_STAGES], factor_effects(everything), None, SMALL_DATA,
                           "no resolved deals yet: every stage is in small-data mode")
    train = weighted_training_rows(store, cutoff)
    # Test on what a forecaster standing at the cutoff scores: each deal open then, at the stage it was in then,
    # whose outcome came later. (Testing every row that closed after the cutoff would favour quick losses: recent
    # winners are still open at the as-of date.)
    from analytics.store.asof import open_stages_at

    open_then = open_stages_at(store, cutoff)
    test = everything.merge(open_then, left_on=["deal_id", "stage"], right_on=["deal_id", "current_stage"])
    if not filters.is_empty():
        from analytics.analyses.overview import deal_ids

        test = test[test["deal_id"].isin(deal_ids(store, filters))]
    # the team's model at the cutoff: after a re-export that changed none of its rows, the one fitted last time
    model = StageWinModel(**model_args).fit(train) if model_args else fitted_on(store, train)
    stages, all_y, all_p, all_q = [], [], [], []
    for s in MODEL_STAGES:
        t = test[test["stage"] == s]
        y = t["won"].to_numpy()
        p = model.predict_proba(t) if len(t) else np.array([])
        q = np.full(len(y), model.stage_rate_[s])
        m = metrics(y, p)
        _, table = expected_calibration_error(y, p)
        all_y.append(y)
        all_p.append(p)
        all_q.append(q)
        gain, gain_ci = brier_gain(y, p, q)
        stages.append(StageValidation(
            s, model.n_train_[s], len(t), model.mode_[s], m.auc, m.brier, m.log_loss,
            m.ece if len(t) >= MIN_TEST_FOR_ECE else None, table, metrics(y, q),
            metrics(y, np.full(len(y), SALESFORCE_DEFAULT_PROBABILITY[s])), gain, gain_ci, *spiegelhalter(y, p)))
    y_all, p_all, q_all = np.concatenate(all_y), np.concatenate(all_p), np.concatenate(all_q)
    pooled, pooled_table = expected_calibration_error(y_all, p_all)
    pooled = pooled if len(y_all) >= MIN_TEST_FOR_ECE else None  # six test deals' ECE means nothing
    pooled_gain, pooled_gain_ci = brier_gain(y_all, p_all, q_all)
    mode = SMALL_DATA if model.small_data else FULL
    note = ("small-data mode: some stages have too few resolved deals for a full model; their probabilities are "
            "shrunk toward the stage's empirical rate" if mode == SMALL_DATA else "")
    return ModelReport(stages, factor_effects(everything), cutoff, mode, note, pooled, pooled_table, len(y_all),
                       pooled_gain, pooled_gain_ci, *spiegelhalter(y_all, p_all))
