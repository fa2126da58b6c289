from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.forecasting.scoring import score_open_deals
from analytics.forecasting.timing import RemainingTime
from analytics.forecasting.validation import evaluate, expected_calibration_error
from analytics.forecasting.winmodel import StageWinModel
from analytics.ingest.canonical import import_files
from analytics.sample import SampleParameters, write_sample
from analytics.store.connection import Store
from analytics.store.training import training_rows

AS_OF = "2026-11-27"


def generated_store(tmp_path_factory, name, **params) -> Store:
    folder = tmp_path_factory.mktemp(name)
    write_sample(folder, SampleParameters(as_of=AS_OF, **params))
    store = Store(folder / "kf.duckdb")
    assert import_files(store, folder / "deals.csv", folder / "stage_history.csv").status == "imported"
    return store


@pytest.fixture(scope="module")
def signal(tmp_path_factory):
    store = generated_store(tmp_path_factory, "signal", deals=40_000, seed=21)
    yield store
    store.close()


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """No signal at all: no factor effect, and close dates pushed alike whatever the deal's fate (push count is a
    feature: with the generator's default push rates it carries real signal)."""
    import analytics.sample as sample

    rates = sample.PUSH_PROBABILITY
    sample.PUSH_PROBABILITY = {fate: 0.35 for fate in rates}
    try:
        store = generated_store(tmp_path_factory, "flat", deals=40_000, seed=21, factor_effect=0.0)
    finally:
        sample.PUSH_PROBABILITY = rates
    yield store
    store.close()


def test_estimator_conventions(signal):
    model = StageWinModel(min_train=150, C=0.5)
    assert vars(model) == {"min_train": 150, "min_class": 20, "max_train": 50_000, "C": 0.5, "calibrate_below": 10_000,
                           "random_state": 0}  # the constructor stores its arguments, nothing else
    rows = training_rows(signal, date(2026, 11, 28))
    assert model.fit(rows) is model
    assert set(model.mode_) == set(range(1, 8)) and all(m == "full" for m in model.mode_.values())
    p = model.predict_proba(rows.head(500))
    assert ((p > 0) & (p < 1)).all()


def test_calibrated_and_better_than_the_stage_rate_where_factors_matter(signal):
    report = evaluate(signal)
    assert report.mode == "full" and report.cutoff is not None
    assert report.pooled_ece <= 0.03  # measured 0.015
    for st in report.stages:
        assert st.n_test > 100
        assert st.brier < st.baseline_stage_rate.brier, st.stage
        assert st.brier < st.baseline_crm_default.brier, st.stage
        assert st.auc > 0.6
        assert sum(b.n for b in st.reliability) == st.n_test
    # the generator's factors all carry signal (β from 0.05 to 0.30 per point): every interval is above 1
    effects = {f.factor: f for f in report.factors}
    assert all(f.ci[0] > 1 for f in effects.values())
    assert effects["relationship"].odds_ratio > effects["service"].odds_ratio  # β 0.30 against 0.05


def test_no_signal_is_not_pretended(flat):
    report = evaluate(flat)
    assert sum(f.ci[0] <= 1 <= f.ci[1] for f in report.factors) >= 8  # measured: all 9 include 1
    assert all(0.9 < f.odds_ratio < 1.1 for f in report.factors)
    # with nothing but tier to learn from, the model is no better than the stage rate by any real margin
    gains = [st.baseline_stage_rate.brier - st.brier for st in report.stages]
    assert max(gains) < 0.015


def test_expected_calibration_error_by_hand():
    # bin [0.2, 0.3): predictions 0.25 ×4, outcomes 1,0,0,0 → |0.25 − 0.25| = 0;
    # bin [0.9, 1.0]: predictions 0.95 ×2, outcomes 1,0 → |0.95 − 0.5| = 0.45, weight 2/6
    ece, table = expected_calibration_error([1, 0, 0, 0, 1, 0], [0.25] * 4 + [0.95] * 2)
    assert ece == pytest.approx(0.45 * 2 / 6)
    assert [b.n for b in table if b.n] == [4, 2]


def test_remaining_time_by_hand():
    # Every winner stayed 10 days in the stage, then took 5 days to sign.
    rt = RemainingTime({1: np.array([10.0] * 4)}, {1: np.array([5.0] * 4)})
    stage, elapsed = np.array([1, 1, 1]), np.array([3.0, 3.0, 12.0])
    # after 3 days in the stage: 7 more days, then 5 → signs on day 12 from now; windows are [start, end)
    assert rt.window_probability(stage, elapsed, np.array([0, 12, 0.0]), np.array([13.0, 30, 30])).tolist() == [
        1.0, 1.0, 0.0]  # the third has outstayed every winner: stale, never forecast to sign
    assert rt.window_probability(stage[:2], elapsed[:2], np.array([0.0, 13]), np.array([12.0, 40])).tolist() == [
        0.0, 0.0]
    assert rt.median_remaining(stage, elapsed)[:2].tolist() == [12.0, 12.0]
    assert np.isnan(rt.median_remaining(stage, elapsed)[2])
    # one window for every deal (a quarter's), looked up once per (stage, elapsed day): [12, 13) holds day 12,
    # [13, 40) and [−5, 12) do not, and the stale deal signs in none
    assert rt.window_probability(stage, elapsed, 12.0, 13.0).tolist() == [1.0, 1.0, 0.0]
    assert rt.window_probability(stage, elapsed, 13.0, 40.0).tolist() == [0.0, 0.0, 0.0]
    assert rt.window_probability(stage, elapsed, -5.0, 12.0).tolist() == [0.0, 0.0, 0.0]


def test_one_window_for_all_equals_each_deals_window():
    rng = np.random.default_rng(3)
    rt = RemainingTime({s: rng.gamma(2, 15, 300) for s in (1, 2)}, {s: rng.gamma(2, 30, 300) for s in (1, 2)})
    stage, elapsed = rng.integers(1, 3, 2_000), rng.uniform(0, 120, 2_000)
    for start, end in ((0.0, 45.5), (-3.0, 90.0), (20.0, 21.0), (400.0, 500.0)):
        each = rt.window_probability(stage, elapsed, np.full(2_000, start), np.full(2_000, end))
        assert rt.window_probability(stage, elapsed, start, end).tolist() == each.tolist()
        assert each.max() > 0 or start >= 400


def test_length_biased_stays(tmp_path):
    # Stays of 2 and 20 days, equally common among winners. A deal caught after 5 days can only be a long stayer.
    rt = RemainingTime({1: np.array([2.0, 20.0])}, {1: np.array([0.0, 0.0])})
    assert rt.median_remaining(np.array([1]), np.array([5.0]))[0] == 15.0


def test_scoring_open_deals(signal):
    deals = score_open_deals(signal)
    assert len(deals) == signal.scalar("SELECT count(*) FROM deals WHERE outcome = 'open'")
    assert deals["p_win"].between(0, 1).all()
    assert np.allclose(deals["expected_value"], deals["amount"] * deals["p_win"])
    assert set(deals["recommended_tier"]) <= {"A", "B", "C", "D"}
    later = deals["predicted_close"].dropna()
    assert (later >= date(2026, 11, 26)).all()
    # further along, more likely: the mean P(win) rises with the stage
    means = deals.groupby("stage")["p_win"].mean()
    assert means.is_monotonic_increasing


@pytest.mark.parametrize("closed", [30, 10])
def test_small_data_mode(tmp_path, closed):
    folder = tmp_path / "src"
    write_sample(folder, SampleParameters(deals=400, seed=3, as_of=AS_OF))
    deals = pd.read_csv(folder / "deals.csv", dtype=str, keep_default_na=False)
    keep = pd.concat([deals[deals.outcome != "open"].head(closed), deals[deals.outcome == "open"].head(5)])
    keep.to_csv(tmp_path / "deals.csv", index=False)
    history = pd.read_csv(folder / "stage_history.csv", dtype=str)
    history[history.deal_id.isin(keep.deal_id)].to_csv(tmp_path / "history.csv", index=False)
    with Store(tmp_path / "kf.duckdb") as store:
        assert import_files(store, tmp_path / "deals.csv", tmp_path / "history.csv").status == "imported"
        report = evaluate(store)
        assert report.mode == "small-data" and "small-data" in report.note
        scored = score_open_deals(store)
        assert len(scored) == 5 and scored["p_win"].between(0.01, 0.99).all()
        assert set(scored["mode"]) == {"small-data"}


def test_a_past_quarters_model_is_not_fitted_again_when_its_training_rows_are_unchanged(tmp_path, monkeypatch):
    """A weekly re-export changes the open deals; a past quarter's training rows (deals resolved before it) stay
    as they were, and so does its fitted model, read back across the new data version. A change to a deal resolved
    before that quarter changes its rows, and the model is fitted again."""
    import csv

    from analytics.forecasting.winmodel import StageWinModel, team_model
    from analytics.ingest.canonical import import_files
    from analytics.sample import SampleParameters, write_sample

    write_sample(tmp_path, SampleParameters(deals=1500, seed=5, as_of="2026-11-27"))
    fits = []
    fit = StageWinModel.fit
    monkeypatch.setattr(StageWinModel, "fit", lambda self, rows: fits.append(len(rows)) or fit(self, rows))
    with open(tmp_path / "deals.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    past = date(2026, 1, 1)

    def reexport(change) -> None:
        for row in rows:
            change(row)
        with open(tmp_path / "deals.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    with Store(tmp_path / "kf.duckdb") as store:
        import_files(store, tmp_path / "deals.csv", tmp_path / "stage_history.csv")
        first = team_model(store, past)
        version = store.data_version()
        assert len(fits) == 1
        report = evaluate(store)  # the validation's model, at its cutoff, is fitted once too
        assert len(fits) == 2
        # the re-export: every open deal's amount raised by 1
        reexport(lambda r: r.update(amount=str(float(r["amount"]) + 1)) if r["outcome"] == "open" and r["amount"]
                 else None)
        import_files(store, tmp_path / "deals.csv", tmp_path / "stage_history.csv")
        assert store.data_version() != version
        again = team_model(store, past)
        assert evaluate(store) == report  # the same cutoff and rows: the same model, read back
        assert len(fits) == 2  # both read back, not fitted
        sample_rows = training_rows(store, past).head(300)
        assert (again.predict_proba(sample_rows) == first.predict_proba(sample_rows)).all()
        # a deal won in 2025 changes: the quarter's rows change, and its model is fitted again
        won_early = next(r for r in rows if r["outcome"] == "won" and r["closed_at"] < "2025-12-01" and r["amount"])
        won_early["amount"] = str(float(won_early["amount"]) * 2)
        reexport(lambda r: None)
        import_files(store, tmp_path / "deals.csv", tmp_path / "stage_history.csv")
        team_model(store, past)
        assert len(fits) == 3


def test_category_codes_of_a_categorical_column_equal_those_of_its_text():
    from analytics.forecasting.encoding import MISSING, CategoryCodes

    fitted = CategoryCodes().fit(pd.DataFrame({"tier": pd.Series(["B", "A", None, "C"], dtype="str")}))
    assert fitted.categories_[0].tolist() == sorted(["A", "B", "C", MISSING])
    text = pd.DataFrame({"tier": pd.Series(["C", None, "Z", "A", "A", None], dtype="str")})  # Z was never seen
    by_hand = [3, 0, -1, 1, 1, 0]  # "(none)" sorts before "A": index 0
    assert fitted.transform(text)[:, 0].tolist() == by_hand
    assert fitted.transform(text.astype("category"))[:, 0].tolist() == by_hand
    # fitted without a missing value, a missing one is unknown (−1) either way
    plain = CategoryCodes().fit(pd.DataFrame({"tier": ["A", "B"]}))
    assert plain.transform(text.astype("category"))[:, 0].tolist() == plain.transform(text)[:, 0].tolist() == [
        -1, -1, -1, 0, 0, -1]


def test_category_codes_learn_the_same_categories_from_a_categorical_as_from_its_text():
    from analytics.forecasting.encoding import MISSING, CategoryCodes

    # StageWinModel.fit makes the text categorical over every stage's rows, then fits each stage on a part: the
    # part's categories are the values it holds, not every category of the whole column
    whole = pd.Series(["B", "A", None, "C", "D", "A"], dtype="str").astype("category")
    part = whole.iloc[[0, 1, 2, 5]].to_frame("tier")  # B, A, missing, A: no C, no D
    assert CategoryCodes().fit(part).categories_[0].tolist() == [MISSING, "A", "B"]
    text = pd.Series(["B", "A", None, "A"], dtype="str").to_frame("tier")  # the same part as text
    assert CategoryCodes().fit(text).categories_[0].tolist() == [MISSING, "A", "B"]
    no_missing = whole.iloc[[3, 4]].to_frame("tier")
    assert CategoryCodes().fit(no_missing).categories_[0].tolist() == ["C", "D"]


def test_the_win_models_median_imputes_what_simple_imputers_median_does():
    from sklearn.impute import SimpleImputer

    from analytics.forecasting.winmodel import median_or_zero

    nan = np.nan
    X = np.array([[1.0, nan, 5.0], [4.0, nan, nan], [nan, nan, 2.0], [10.0, nan, 3.0]])
    # by hand: column 0 has 1, 4, 10 → 4; column 1 has nothing → 0 (its indicator carries it); column 2 has 5, 2, 3 → 3
    assert [median_or_zero(X[~np.isnan(X[:, i]), i]) for i in range(3)] == [4.0, 0.0, 3.0]
    ours = SimpleImputer(strategy=median_or_zero, add_indicator=True, keep_empty_features=True).fit(X)
    theirs = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True).fit(X)
    assert ours.statistics_.tolist() == theirs.statistics_.tolist() == [4.0, 0.0, 3.0]
    assert np.array_equal(ours.transform(X), theirs.transform(X))
    even = np.array([[1.0], [2.0], [nan], [7.0], [9.0]])  # 1, 2, 7, 9 → (2 + 7) / 2
    assert SimpleImputer(strategy=median_or_zero).fit(even).statistics_.tolist() == [4.5]


def _column_transformer(pooled: bool):
    """The win model's features as scikit-learn's ColumnTransformer built them before WinFeatures."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from analytics.forecasting.encoding import CategoryCodes
    from analytics.forecasting.winmodel import CATEGORICAL, NUMERIC, median_or_zero

    return ColumnTransformer([
        ("categories", make_pipeline(CategoryCodes(), OneHotEncoder(handle_unknown="ignore", min_frequency=5)),
         list(CATEGORICAL)),
        ("numbers", make_pipeline(SimpleImputer(strategy=median_or_zero, add_indicator=True,
                                                keep_empty_features=True), StandardScaler()), list(NUMERIC)),
    ] + ([("stage", OneHotEncoder(handle_unknown="ignore"), ["stage"])] if pooled else []))


def _feature_frame(n: int, industries: int, seed: int) -> pd.DataFrame:
    from analytics.forecasting.winmodel import NUMERIC

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tier": pd.Series(rng.choice(["A", "B", "C", "D", None], n, p=[0.3, 0.3, 0.2, 0.15, 0.05]), dtype="str"),
        "region": pd.Series(rng.choice(["East", "West", "North", "Rare"], n, p=[0.5, 0.3, 0.198, 0.002]),
                            dtype="str"),  # Rare: a handful of rows, fewer than min_frequency
        "industry": pd.Series([f"industry {k}" for k in rng.integers(0, industries, n)], dtype="str"),
        "stage": rng.integers(1, 8, n)})
    for j, name in enumerate(NUMERIC):
        values = rng.normal(j, 1 + j, n)
        values[rng.random(n) < (0.2 if j % 3 == 0 else 0.0)] = np.nan  # a third of the columns have blanks
        frame[name] = values
    frame["push_count"] = np.nan  # a column never filled in: imputed 0, carried by its indicator
    return frame


@pytest.mark.parametrize("industries, pooled", [(8, False), (8, True), (400, False), (400, True)])
def test_win_features_are_the_column_transformers_matrix_bit_for_bit(industries, pooled):
    """8 industries: a dense matrix; 400: sparse (ColumnTransformer's 30% density rule), as the logistic regression
    then fits on. Transformed again: unseen categories and stages, blanks where fit had none."""
    from scipy import sparse

    from analytics.forecasting.encoding import WinFeatures
    from analytics.forecasting.winmodel import CATEGORICAL, NUMERIC, median_or_zero

    train, test = _feature_frame(3000, industries, seed=1), _feature_frame(500, industries, seed=2)
    test.loc[:9, "tier"] = "Z"  # never seen
    test.loc[10:19, "industry"] = "a new industry"
    test.loc[20:29, "stage"] = 9
    test.loc[30:39, NUMERIC[1]] = np.nan  # fit saw no blank in this column: imputed, no indicator
    columns = [*CATEGORICAL, *NUMERIC, "stage"]
    ours = WinFeatures(CATEGORICAL, NUMERIC, stage=pooled, impute=median_or_zero)
    theirs = _column_transformer(pooled)
    fitted_ours, fitted_theirs = ours.fit_transform(train[columns]), theirs.fit_transform(train[columns])
    assert sparse.issparse(fitted_ours) == sparse.issparse(fitted_theirs) == (industries == 400)
    for a, b in ((fitted_ours, fitted_theirs), (ours.transform(test[columns]), theirs.transform(test[columns]))):
        if sparse.issparse(b):
            assert (a.indptr.tolist(), a.indices.tolist()) == (b.indptr.tolist(), b.indices.tolist())
            a, b = a.data, b.data
        assert a.shape == b.shape and np.array_equal(a, b)


def test_win_features_by_hand():
    from analytics.forecasting.encoding import WinFeatures
    from analytics.forecasting.winmodel import median_or_zero

    train = pd.DataFrame({"tier": pd.Series(["A"] * 5 + ["B"] * 5 + ["C"], dtype="str"),
                          "x": [1.0, np.nan, 3.0, 5.0, 7.0, 1.0, 3.0, 5.0, 7.0, 9.0, 11.0]})
    features = WinFeatures(("tier",), ("x",), min_frequency=5, impute=median_or_zero).fit(train)
    # tier: A and B seen 5 times each have columns, C (once) is infrequent and takes a third; the ten present x are
    # 1 1 3 3 5 5 7 7 9 11, median 5; x was blank once, so it has an indicator; both numbers are then standardised
    out = features.transform(pd.DataFrame({"tier": pd.Series(["B", "C", "Z"], dtype="str"), "x": [6.0, np.nan, 1.0]}))
    assert out[:, :3].tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]  # Z, never seen: no column
    x = np.array([1, 5, 3, 5, 7, 1, 3, 5, 7, 9, 11.0])  # as imputed in fit
    missing = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0.0])
    assert features.statistics_.tolist() == [5.0]
    assert np.allclose(out[:, 3], (np.array([6.0, 5.0, 1.0]) - x.mean()) / x.std())
    assert np.allclose(out[:, 4], (np.array([0.0, 1.0, 0.0]) - missing.mean()) / missing.std())
