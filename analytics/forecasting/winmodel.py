"""P(win | the deal has reached stage s, and what was known then), one model per stage s = 1..7.

Each stage's model is a scikit-learn Pipeline (WinFeatures, then a regularised LogisticRegression),
Platt-scaled with CalibratedClassifierCV while the stage has fewer than `calibrate_below` training rows. With more,
the scaling learnt the identity within noise (slopes 0.86–1.07 at 100k deals) and cost two thirds of the fit's time;
with fewer, it shrinks a fit from a few thousand rows, and the backtests were a little better with it
(benchmarks/calibration_step.py, benchmarks/backtest_accuracy.py; docs/metrics.md).

With few resolved deals at a stage it runs in small-data mode: a strongly regularised fit shrunk toward the stage's
empirical rate (a Beta prior worth `min_train` deals), or the rate alone.
Definitions and validation: docs/metrics.md.
"""

from __future__ import annotations

import functools
import warnings
from datetime import date, datetime

import numpy as np

from analytics.domain import FACTOR_KEYS
from analytics.forecasting.threads import in_threads
from analytics.forecasting.timing import RemainingTime
from analytics.store.asof import MODEL_STAGES
from analytics.store.cache import (
    frame_fingerprint,
    kept_by_content,
    persisted,
    persisted_together,
)
from analytics.store.connection import Store
from analytics.store.training import weighted_training_rows, weighted_training_rows_at

CATEGORICAL = ("tier", "region", "industry")
# push_count: the expected close's pushes recorded before the stage was entered. It joined the features because it
# lowered the held-out Brier score on generated data with the push signal (by 0.0047, over 3 seeds) and did not
# raise it without (−0.0006): benchmarks/push_feature.py, docs/metrics.md.
NUMERIC = ("log_amount", "days_in_process", "owner_win_rate", "push_count", *FACTOR_KEYS)
FULL, SMALL_DATA = "full", "small-data"
CALIBRATE_BELOW = 10_000  # training rows of a stage, beyond which its fit is not Platt-scaled (module docstring)
# CalibratedClassifierCV warns that a Pipeline cannot take sample_weight, so that only the calibration would use
# them; StageWinModel.fit hands the Pipeline's logistic step its own (logistic__sample_weight), so both use them.
# Set once here, not with catch_warnings around the fit: that is not thread-safe, and the app fits in its sessions'
# threads and in the background refresh's.
warnings.filterwarnings("ignore", message="Since Pipeline does not appear to accept sample_weight",
                        category=UserWarning)


def median_or_zero(values: np.ndarray) -> float:
    """A column's median, the win model's imputed value for a missing one (0 when the stage has none: the column
    then carries only its missing-indicator). SimpleImputer's own "median" sorts a masked copy of every column, a
    quarter of a fit's time; np.median partitions the present values, to the same numbers."""
    return float(np.median(values)) if len(values) else 0.0


class StageWinModel:
    """Estimator conventions: the constructor stores arguments; fit learns and returns self; learned state ends in _.

    fit(rows) takes snapshot.training_rows(); predict_proba(frame) takes rows with a `stage` column.
    """

    def __init__(self, min_train: int = 200, min_class: int = 20, max_train: int = 50_000, C: float = 1.0,
                 calibrate_below: int = CALIBRATE_BELOW, random_state: int = 0):
        self.min_train = min_train
        self.min_class = min_class
        self.max_train = max_train
        self.C = C
        self.calibrate_below = calibrate_below
        self.random_state = random_state

    def _pipeline(self, C: float, pooled: bool = False):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        from analytics.forecasting.encoding import WinFeatures

        return Pipeline([("features", WinFeatures(CATEGORICAL, NUMERIC, stage=pooled, impute=median_or_zero)),
                         ("logistic", LogisticRegression(C=C, solver="newton-cholesky", max_iter=200))])

    def fit(self, rows) -> StageWinModel:
        """Learn from snapshot training rows; a `weight` column (snapshot.censoring_weights) weights every estimate:
        the stage rates, the fits, their calibration and the time to signing."""
        from sklearn.calibration import CalibratedClassifierCV

        rng = np.random.default_rng(self.random_state)
        self.models_, self.stage_rate_, self.mode_, self.n_train_, self.weight_ = {}, {}, {}, {}, {}
        self.pooled_ = None
        if "weight" not in rows:
            rows = rows.assign(weight=1.0)
        # text columns as categoricals, once for every stage (as predict_proba does): each stage's rows are then
        # taken and encoded by their codes, not their text
        rows = rows.astype({c: "category" for c in CATEGORICAL if c in rows})
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
                if n < self.calibrate_below:
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
        # text columns as categoricals: each stage's encoder then looks up a few values, not every row's text
        frame = frame.astype({c: "category" for c in CATEGORICAL if c in frame})
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
    """The team's win model as it could have been fitted at `when`, from what was known then. A fit is a function of
    its training rows (and this code): from the same rows, after a re-export that changed none of them (most past
    quarters' after a weekly one), the model fitted last time is read back instead of fitted again."""
    return fitted_on(store, weighted_training_rows(store, when))


def fitted_on(store: Store, rows) -> StageWinModel:
    """A StageWinModel fitted on `rows`, or the one fitted on the same rows before (fit_team_model)."""
    model = StageWinModel()
    name = f"win model {_code_fingerprint()} {sorted(vars(model).items())}"
    return kept_by_content(store, name, frame_fingerprint(rows), lambda: model.fit(rows))


@functools.cache
def _code_fingerprint() -> str:
    """What a fit also depends on: this module's and its encoder's source, and scikit-learn's version."""
    import hashlib
    from pathlib import Path

    import sklearn

    here = Path(__file__).parent
    sources = b"".join((here / name).read_bytes() for name in ("winmodel.py", "encoding.py", "timing.py"))
    return hashlib.sha256(sources + sklearn.__version__.encode()).hexdigest()[:16]


def team_model(store: Store, when: date | datetime) -> StageWinModel:
    """fit_team_model, fitted once per data version and kept in the database (analytics.results)."""
    return persisted(store, fit_team_model, when)


def team_models(store: Store, whens: list) -> list[StageWinModel]:
    """team_model at each of `whens`: those not kept yet fitted from training rows read together (at 1M deals, the
    backtest's eight quarters' in 14 s, not 24: analytics.store.training.training_rows_at)."""
    def fit_missing(calls: list[tuple]):  # side by side, as many as the cores: analytics.forecasting.threads
        return in_threads(lambda rows: fitted_on(store, rows), weighted_training_rows_at(store, [w for (w,) in calls]))

    return persisted_together(store, fit_team_model, [(when,) for when in whens], fit_missing)


def predict_each(model: StageWinModel, frames: list) -> list:
    """`model`'s P(win) of each frame of deals, from one predict_proba over them all: each call costs 0.4 s of
    scikit-learn's own overhead, whatever the deals (the backtest's weeks, the forecast's path)."""
    import pandas as pd

    sizes = [len(f) for f in frames]
    if not sum(sizes):
        return [np.array([]) for _ in frames]
    columns = ["stage", *CATEGORICAL, *NUMERIC]  # only what the model reads: the names and accounts stay put
    p = model.predict_proba(pd.concat([f[columns] for f in frames if len(f)], ignore_index=True))
    return list(np.split(p, np.cumsum(sizes)[:-1]))
