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
