"""P(win | the deal has reached stage s, and what was known then), one model per stage s = 1..7.

Each stage's model is a scikit-learn Pipeline (a ColumnTransformer, then a regularised LogisticRegression),
calibrated with CalibratedClassifierCV. With few resolved deals at a stage it runs in small-data mode: a strongly
regularised fit shrunk toward the stage's empirical rate (a Beta prior worth `min_train` deals), or the rate alone.
Definitions and validation: docs/metrics.md.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from analytics.domain import FACTOR_KEYS, SALESFORCE_DEFAULT_PROBABILITY
from analytics.filters import DealFilter
from analytics.stats import Interval
from analytics.store.asof import MODEL_STAGES, open_deal_features, training_rows, weighted_training_rows
from analytics.store.cache import persistable, persisted
from analytics.store.connection import Store

CATEGORICAL = ("tier", "region", "industry")
NUMERIC = ("log_amount", "days_in_process", "owner_win_rate", *FACTOR_KEYS)
FULL, SMALL_DATA = "full", "small-data"
EVALUATION_ROWS_PER_STAGE = 100_000
# CalibratedClassifierCV warns that a Pipeline cannot take sample_weight, so that only the calibration would use
# them; StageWinModel.fit hands the Pipeline's logistic step its own (logistic__sample_weight), so both use them.
# Set once here, not with catch_warnings around the fit: that is not thread-safe, and backtests fit in two threads.
warnings.filterwarnings("ignore", message="Since Pipeline does not appear to accept sample_weight",
                        category=UserWarning)


class StageWinModel:
    """Estimator conventions: the constructor stores arguments; fit learns and returns self; learned state ends in _.

    fit(rows) takes snapshot.training_rows(); predict_proba(frame) takes rows with a `stage` column.
    """

    def __init__(self, min_train: int = 200, min_class: int = 20, max_train: int = 50_000, C: float = 1.0,
                 calibrate: bool = True, random_state: int = 0):
        self.min_train = min_train
        self.min_class = min_class
        self.max_train = max_train
        self.C = C
        self.calibrate = calibrate
        self.random_state = random_state

    def _pipeline(self, C: float, pooled: bool = False):
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        from analytics.forecasting.encoding import CategoryCodes

        pre = ColumnTransformer([
            ("categories", make_pipeline(CategoryCodes(), OneHotEncoder(handle_unknown="ignore", min_frequency=5)),
             list(CATEGORICAL)),
            ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                    keep_empty_features=True), StandardScaler()), list(NUMERIC)),
        ] + ([("stage", OneHotEncoder(handle_unknown="ignore"), ["stage"])] if pooled else []))
        return Pipeline([("features", pre), ("logistic", LogisticRegression(C=C, solver="newton-cholesky", max_iter=200))])

    def fit(self, rows) -> StageWinModel:
        """Learn from snapshot training rows; a `weight` column (snapshot.censoring_weights) weights every estimate:
        the stage rates, the fits, their calibration and the time to signing."""
        from sklearn.calibration import CalibratedClassifierCV

        rng = np.random.default_rng(self.random_state)
        self.models_, self.stage_rate_, self.mode_, self.n_train_, self.weight_ = {}, {}, {}, {}, {}
        self.pooled_ = None
        if "weight" not in rows:
            rows = rows.assign(weight=1.0)
        self.remaining_ = RemainingTime.from_rows(rows)  # when a deal that wins signs, by stage
        columns = list(CATEGORICAL + NUMERIC)
        for s in MODEL_STAGES:
            part = rows[rows["stage"] == s]
            n, won = len(part), int(part["won"].sum())
            self.n_train_[s] = n
            w_all = part["weight"].to_numpy(float)  # Jeffreys, weighted: never 0 or 1
            self.stage_rate_[s] = (float(w_all @ part["won"].to_numpy(float)) + 0.5) / (float(w_all.sum()) + 1.0)
            if len(part) > self.max_train:  # beyond this, more rows add time, not precision
                part = part.iloc[np.sort(rng.choice(len(part), self.max_train, replace=False))]
            X, y, w = part[columns], part["won"].to_numpy(), part["weight"].to_numpy(float)
            minority = min(won, n - won)
            if n >= self.min_train and minority >= self.min_class:
                model = self._pipeline(self.C)
                if self.calibrate:
                    model = CalibratedClassifierCV(model, method="sigmoid", cv=3)
                    self.models_[s] = model.fit(X, y, sample_weight=w, logistic__sample_weight=w)
                else:
                    self.models_[s] = model.fit(X, y, logistic__sample_weight=w)
                self.mode_[s], self.weight_[s] = FULL, 1.0
            else:
                self.mode_[s] = SMALL_DATA
                if minority >= 5:  # a strongly regularised fit, shrunk toward the pooled model (or the stage rate)
                    self.models_[s] = self._pipeline(0.05).fit(X, y, logistic__sample_weight=w)
                    self.weight_[s] = n / (n + self.min_train)
                else:
                    self.models_[s], self.weight_[s] = None, 0.0
        if self.small_data:
            self.pooled_ = self._fit_pooled(rows, rng)
        return self

    def _fit_pooled(self, rows, rng):
        """One fit over every stage's rows, with the stage as a feature: what a small-data stage shrinks toward.

        Shrinking toward the bare stage rate would give every deal at that stage the same P(win), so the large
        deals of the strong tiers would be under-predicted: by amount, the forecast would run low exactly where
        data is small. The factors' and tiers' effects are learnt from all stages together instead, while the
        stage's own intercept keeps its rate. With fewer rows than a full stage fit needs, there is none (None) and
        the stage rate is the prior, as before."""
        won = int(rows["won"].sum())
        if len(rows) < self.min_train or min(won, len(rows) - won) < self.min_class:  # too few to learn effects
            return None
        if len(rows) > self.max_train:
            rows = rows.iloc[np.sort(rng.choice(len(rows), self.max_train, replace=False))]
        return self._pipeline(self.C, pooled=True).fit(rows[list(CATEGORICAL + NUMERIC) + ["stage"]], rows["won"],
                                                      logistic__sample_weight=rows["weight"].to_numpy(float))

    @property
    def small_data(self) -> bool:
        return any(m == SMALL_DATA for m in self.mode_.values())

    def predict_proba(self, frame) -> np.ndarray:
        """P(win) for each row of `frame`, by its `stage` (stages outside 1..7: 1.0 for 8)."""
        out = np.full(len(frame), np.nan)
        stages = frame["stage"].to_numpy()
        out[stages >= 8] = 1.0
        for s in MODEL_STAGES:
            mask = stages == s
            if not mask.any():
                continue
            prior = self.stage_rate_[s]
            if self.mode_[s] == SMALL_DATA and self.pooled_ is not None:
                prior = self.pooled_.predict_proba(frame.loc[mask, list(CATEGORICAL + NUMERIC) + ["stage"]])[:, 1]
            model = self.models_.get(s)
            if model is None:
                out[mask] = prior
                continue
            p = model.predict_proba(frame.loc[mask, list(CATEGORICAL + NUMERIC)])[:, 1]
            w = self.weight_[s]
            out[mask] = w * p + (1 - w) * prior
        return out


def fit_team_model(store: Store, when: date | datetime) -> StageWinModel:
    """The team's win model as it could have been fitted at `when`, from what was known then."""
    return StageWinModel().fit(weighted_training_rows(store, when))


def team_model(store: Store, when: date | datetime) -> StageWinModel:
    """fit_team_model, fitted once per data version and kept in the database (analytics.results)."""
    return persisted(store, fit_team_model, when)


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
    model = StageWinModel(**model_args).fit(train)
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


# Scoring open deals ------------------------------------------------------------------------------------------------
class RemainingTime:
    """When an open deal that will win is likely to sign, from the deals that won from its stage.

    A deal caught in stage s after `elapsed` days there has, by being caught, a longer stay than most: its remaining
    time is the rest of its stay, drawn from the stays longer than `elapsed`, plus the time from leaving s to
    signing (taken as independent of the stay). Both are empirical distributions on a daily grid; their convolution
    gives P(signs within t days from now), per distinct elapsed day.
    """

    def __init__(self, stay_days: dict[int, np.ndarray], after_days: dict[int, np.ndarray],
                 weights: dict[int, np.ndarray] | None = None):
        weights = weights or {}
        self.stay = {s: np.bincount(np.floor(v).astype(int), weights=weights.get(s)) if len(v) else np.zeros(0)
                     for s, v in stay_days.items()}
        self.after = {}
        for s, v in after_days.items():
            pmf = np.bincount(np.floor(v).astype(int), weights=weights.get(s)).astype(float)
            self.after[s] = pmf / pmf.sum() if pmf.sum() else pmf
        self._cdf_cache: dict[tuple[int, int], np.ndarray | None] = {}

    @classmethod
    def from_rows(cls, rows) -> RemainingTime:
        won = rows[rows["won"] == 1]
        weight = won["weight"].to_numpy(float) if "weight" in won else np.ones(len(won))
        day = np.timedelta64(1, "D")
        entered = won["entered_stage_at"].to_numpy().astype("datetime64[s]")
        left = won["left_stage_at"].to_numpy().astype("datetime64[s]")
        closed = won["closed_at"].to_numpy().astype("datetime64[s]")
        stay = np.maximum((left - entered) / day, 0.0)
        after = np.maximum((closed - left) / day, 0.0)
        stage = won["stage"].to_numpy()
        return cls({s: stay[stage == s] for s in MODEL_STAGES}, {s: after[stage == s] for s in MODEL_STAGES},
                   {s: weight[stage == s] for s in MODEL_STAGES})

    def _cdf(self, stage: int, elapsed_day: int) -> np.ndarray | None:
        """CDF over whole days from now of the time to signing, or None when no winner stayed this long (stale)."""
        key = (stage, elapsed_day)
        if key not in self._cdf_cache:
            stay, after = self.stay.get(stage), self.after.get(stage)
            tail = stay[elapsed_day + 1:].astype(float) if stay is not None else np.zeros(0)
            if tail.sum() == 0 or after is None or not len(after):
                self._cdf_cache[key] = None
            else:
                residual = np.concatenate([[0.0], tail / tail.sum()])  # residual stay of 1, 2, … days
                self._cdf_cache[key] = np.minimum(np.cumsum(np.convolve(residual, after)), 1.0)
        return self._cdf_cache[key]

    def _groups(self, stage: np.ndarray, elapsed: np.ndarray):
        """Deals with the same stage and whole elapsed day share a CDF: yield (CDF or None, their indices)."""
        e = np.floor(np.maximum(np.asarray(elapsed, dtype=float), 0)).astype(np.int64)
        keys = np.asarray(stage, dtype=np.int64) * 1_000_000 + e
        uniq, inverse = np.unique(keys, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
        for g, key in enumerate(uniq):
            yield self._cdf(int(key // 1_000_000), int(key % 1_000_000)), order[bounds[g]:bounds[g + 1]]

    def window_probability(self, stage: np.ndarray, elapsed: np.ndarray, start: np.ndarray,
                           end: np.ndarray) -> np.ndarray:
        """P(start ≤ days from now to signing < end | it will win, `elapsed` days in its stage)."""
        out = np.zeros(len(stage))
        for cdf, idx in self._groups(stage, elapsed):
            if cdf is None:
                continue
            padded = np.concatenate([[0.0], cdf])  # padded[k + 1] = P(signs within k days)

            def at(days):
                return padded[np.clip(np.floor(days[idx]).astype(np.int64), 0, len(cdf))]

            out[idx] = np.maximum(0.0, at(np.asarray(end)) - at(np.asarray(start)))
        return out

    def median_remaining(self, stage: np.ndarray, elapsed: np.ndarray) -> np.ndarray:
        """Median days from now to signing, for a deal that will win (NaN when stale)."""
        out = np.full(len(stage), np.nan)
        for cdf, idx in self._groups(stage, elapsed):
            if cdf is not None:
                out[idx] = float(np.searchsorted(cdf, 0.5))
        return out


@persistable
def score_open_deals(store: Store, as_of: date | None = None, model: StageWinModel | None = None, rule=None,
                     filters: DealFilter = DealFilter(), lang: str = "en"):
    """Open deals with P(win) now, expected value, predicted close date and recommended tier (a DataFrame)."""
    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.tiers import TierRule

    as_of = as_of or data_as_of(store) or date.today()
    when = as_of + timedelta(days=1)
    model = model or team_model(store, when)
    deals = open_deal_features(store, when, filters)
    rule = rule or TierRule()
    if deals.empty:
        return deals.assign(p_win=[], expected_value=[], predicted_close=[], recommended_tier=[])
    stage = deals["stage"].to_numpy()
    # whole days from the day the deal entered its stage to the as-of date (velocity's stalled deals count the same)
    elapsed = ((np.datetime64(as_of) - deals["current_stage_entered_at"].to_numpy().astype("datetime64[D]"))
               .astype(float))
    deals["p_win"] = model.predict_proba(deals)
    deals["expected_value"] = deals["amount"] * deals["p_win"]
    further = model.remaining_.median_remaining(stage, elapsed)
    deals["predicted_close"] = [as_of + timedelta(days=int(round(d))) if np.isfinite(d) else None for d in further]
    deals["days_in_stage"] = elapsed
    deals["recommended_tier"] = [rule.grade(p, d if np.isfinite(d) else None)
                                 for p, d in zip(deals["p_win"], further)]
    deals["mode"] = [model.mode_.get(int(s), FULL) for s in stage]
    from analytics.domain import stage as stage_info

    deals["exit_criterion"] = [stage_info(int(s)).exit_criterion(lang) for s in stage]
    return deals
