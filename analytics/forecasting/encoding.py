"""Category codes for the win model: text columns to integer codes before one-hot encoding.

scikit-learn's OneHotEncoder checks text categories one Python object at a time; on integer codes it uses numpy.
At 350,000 training rows that is most of the model's fit time. Missing values become their own category,
"(none)"; a category not seen in fit becomes -1, which the OneHotEncoder (handle_unknown="ignore") encodes as zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from analytics.domain import MISSING_VALUE

MISSING = MISSING_VALUE


def _labels(column: pd.Series) -> pd.Series:
    """The column's values with missing ones as their own category. Text columns keep their dtype: converting
    them to Python objects first took longer than encoding them (an index lookup, get_indexer)."""
    if not pd.api.types.is_string_dtype(column.dtype):
        column = column.astype(object)
    return column.fillna(MISSING)


def _present(column: pd.Series) -> list:
    """The distinct values of the column, missing ones as MISSING. A categorical column's are read from its codes:
    StageWinModel.fit makes its text columns categorical once, and each stage's rows use only some categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.unique(np.asarray(column.cat.codes))
        return [*column.cat.categories[codes[codes >= 0]].tolist(), *([MISSING] if (codes < 0).any() else [])]
    return _labels(column).unique().tolist()


def _codes(column: pd.Series, categories: pd.Index) -> np.ndarray:
    """Each value's index in `categories` (-1 if not there). A categorical column (StageWinModel.predict_proba
    makes its text columns categorical once for every stage) is looked up by its few values, not row by row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        known = categories.get_indexer(pd.Index(column.cat.categories.tolist() + [MISSING]))
        return known[np.asarray(column.cat.codes)].astype(np.int64)  # code −1 (missing) takes the last: MISSING's
    return categories.get_indexer(_labels(column)).astype(np.int64)


class CategoryCodes(TransformerMixin, BaseEstimator):
    """fit learns each column's categories (categories_); transform maps values to their codes."""

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        self.categories_ = [pd.Index(sorted(_present(frame[c]))) for c in frame]
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X):
        frame = pd.DataFrame(X)
        return np.column_stack([_codes(frame[c], cats) for c, cats in zip(frame, self.categories_)]) \
            if len(frame.columns) else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else
                          [f"x{i}" for i in range(self.n_features_in_)], dtype=object)


class _OneHot:
    """One column's one-hot columns, as OneHotEncoder(handle_unknown="ignore", min_frequency=m) lays them out: the
    codes seen at least m times in fit, in order, then one column for all the rarer ones (if any); an unseen code
    (−1, or beyond fit's) has no column."""

    def __init__(self, codes: np.ndarray, n_codes: int, min_frequency: int | None):
        frequent = np.bincount(codes, minlength=n_codes) >= (min_frequency or 0)
        self.column = np.where(frequent, np.cumsum(frequent) - 1, int(frequent.sum()))  # code → its column
        self.width = int(frequent.sum()) + (0 if frequent.all() else 1)

    def columns(self, codes: np.ndarray) -> np.ndarray:
        """Each value's column, −1 for an unseen one."""
        known = (codes >= 0) & (codes < len(self.column))
        return np.where(known, self.column[np.where(known, codes, 0)], -1)


class WinFeatures(TransformerMixin, BaseEstimator):
    """The win model's design matrix from a frame, in one step: the `categorical` columns one-hot encoded (their
    values by CategoryCodes; those seen fewer than `min_frequency` times in fit share a column; an unseen one is
    all zeros), the `numeric` ones with each missing value imputed by `impute` of the column's present values and,
    for each column missing somewhere in fit, its missing-indicator, all of those standardised; with `stage`, the
    stage one-hot (each stage seen in fit its own column).

    The same matrix, bit for bit and dense or sparse alike, as the ColumnTransformer it replaced: CategoryCodes
    then OneHotEncoder(handle_unknown="ignore", min_frequency), SimpleImputer(strategy=impute, add_indicator=True,
    keep_empty_features=True) then StandardScaler, OneHotEncoder(handle_unknown="ignore") of the stage
    (tests/test_model.py compares them). Seven estimators checked and converted their inputs and stacked their
    outputs: the win model's predictions took twice as long, and a fit 10% longer."""

    def __init__(self, categorical: tuple = (), numeric: tuple = (), stage: bool = False, min_frequency: int = 5,
                 impute=None, sparse_threshold: float = 0.3):
        self.categorical = categorical
        self.numeric = numeric
        self.stage = stage
        self.min_frequency = min_frequency
        self.impute = impute
        self.sparse_threshold = sparse_threshold

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        from sklearn.preprocessing import StandardScaler

        frame = pd.DataFrame(X)
        self.codes_ = CategoryCodes().fit(frame[list(self.categorical)])
        codes = self.codes_.transform(frame[list(self.categorical)])
        self.onehots_ = [_OneHot(codes[:, j], len(cats), self.min_frequency)
                         for j, cats in enumerate(self.codes_.categories_)]
        numbers = self._numbers(frame)
        missing = np.isnan(numbers)
        self.statistics_ = np.array([self.impute(numbers[~missing[:, j], j]) for j in range(numbers.shape[1])])
        self.indicated_ = np.flatnonzero(missing.any(axis=0))  # SimpleImputer's features="missing-only"
        self.scaler_ = StandardScaler()
        scaled = self.scaler_.fit_transform(self._imputed(numbers, missing))
        if self.stage:
            self.stages_ = np.unique(frame["stage"].to_numpy())
        one_hot = self._one_hot_columns(frame, codes)
        # ColumnTransformer's rule: sparse when the stored entries (each known value's 1, every number) are under
        # sparse_threshold of the whole matrix
        width = sum(w for _, w in one_hot) + scaled.shape[1]
        stored = sum(int((columns >= 0).sum()) for columns, _ in one_hot) + scaled.size
        self.sparse_output_ = stored / (len(frame) * width) < self.sparse_threshold
        return self._stacked(one_hot, scaled)

    def transform(self, X):
        frame = pd.DataFrame(X)
        numbers = self._numbers(frame)
        return self._stacked(self._one_hot_columns(frame, self.codes_.transform(frame[list(self.categorical)])),
                             self.scaler_.transform(self._imputed(numbers, np.isnan(numbers))))

    def _numbers(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[list(self.numeric)].to_numpy(dtype=float, na_value=np.nan)

    def _imputed(self, numbers: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """The numbers with the missing ones imputed, then the indicators of the columns missing somewhere in fit."""
        return np.hstack([np.where(missing, self.statistics_, numbers), missing[:, self.indicated_].astype(float)])

    def _one_hot_columns(self, frame: pd.DataFrame, codes: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Each categorical feature's (each row's column, −1 for none; its width), then the stage's."""
        out = [(onehot.columns(codes[:, j]), onehot.width) for j, onehot in enumerate(self.onehots_)]
        if self.stage:
            values = frame["stage"].to_numpy()
            at = np.searchsorted(self.stages_, values).clip(0, len(self.stages_) - 1)
            out.append((np.where(self.stages_[at] == values, at, -1), len(self.stages_)))
        return out

    def _stacked(self, one_hot: list[tuple[np.ndarray, int]], scaled: np.ndarray):
        """The categories' one-hot columns, the numbers, then the stage's one-hot: ColumnTransformer's order."""
        categories, stage = (one_hot[:-1], one_hot[-1:]) if self.stage else (one_hot, [])
        if self.sparse_output_:
            from scipy import sparse

            return sparse.hstack([_sparse_one_hot(categories), scaled]
                                 + ([_sparse_one_hot(stage)] if stage else [])).tocsr()
        n, left = len(scaled), sum(w for _, w in categories)
        out = np.zeros((n, left + scaled.shape[1] + sum(w for _, w in stage)))
        out[:, left:left + scaled.shape[1]] = scaled
        rows = np.arange(n)
        starts = [*np.cumsum([0] + [w for _, w in categories])[:-1], left + scaled.shape[1]]  # the stage's last
        for (columns, _), start in zip(one_hot, starts):
            known = columns >= 0
            out[rows[known], start + columns[known]] = 1.0
        return out


def _sparse_one_hot(features: list[tuple[np.ndarray, int]]):
    """The CSR matrix OneHotEncoder builds from each feature's (each row's column, width): a row's known values in
    feature order."""
    from scipy import sparse

    n = len(features[0][0])
    offsets = np.cumsum([0] + [width for _, width in features])
    columns = np.column_stack([c for c, _ in features])
    known = columns >= 0
    indices = (columns + offsets[:-1]).ravel()[known.ravel()]
    indptr = np.empty(n + 1, dtype=int)
    indptr[0] = 0
    np.sum(known, axis=1, out=indptr[1:], dtype=indptr.dtype)
    np.cumsum(indptr[1:], out=indptr[1:])
    return sparse.csr_matrix((np.ones(indptr[-1]), indices, indptr), shape=(n, offsets[-1]), dtype=np.float64)
