"""Query results as DataFrames through Arrow, typed as DuckDB's own DuckDBPyConnection.df() types them.

.df() makes a Python object of every text value before pandas stores it again: 0.35 s for the 435,000 rows of five
weeks' pipelines at 1M deals, of which 0.26 s is their five text columns. Arrow hands pandas the text as it is
(0.07 s). Where Arrow's default pandas types differ from .df()'s, the column is converted to .df()'s: dates to
datetime64[us], decimals (sums of integers, HUGEINT) to floats, integers and booleans with NULLs to pandas' nullable
types, text of only NULLs (or of no rows) to objects. A result with any other type (lists, intervals, enums,
structs) or with two columns of one name is not converted here: fetch_df reads it with .df().
"""

from __future__ import annotations

import warnings

# DuckDB 2 warns that Arrow from execute()'s result copies the rows once more: 0.015 s of the 0.08 s at 435,000
# rows; its relation API (con.sql) instead refuses to run while an earlier result on the cursor is unread. Set once
# here, not with catch_warnings around each fetch, which is not thread-safe.
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


def frame_from_result(result):
    """An executed statement's rows as .df() would give them, or None where only .df() can (the module docstring)."""
    return frame_from_arrow(result.to_arrow_table() if hasattr(result, "to_arrow_table")
                            else result.fetch_arrow_table())  # DuckDB 1.x's name


def frame_from_arrow(table):
    """`table` (a pyarrow.Table of a query's result) as .df() would give it, or None (the module docstring)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.types as pt

    names = table.column_names
    if len(set(names)) < len(names):
        return None
    nullable, no_text = {}, []
    for i, (name, column) in enumerate(zip(names, table.columns)):
        kind = column.type
        if pt.is_date32(kind) or pt.is_date64(kind):
            table = table.set_column(i, name, column.cast(pa.timestamp("us")))
        elif pt.is_decimal(kind):
            table = table.set_column(i, name, column.cast(pa.float64()))
        elif pt.is_integer(kind) or pt.is_boolean(kind):
            if column.null_count:
                nullable[name] = column
        elif pt.is_string(kind) or pt.is_large_string(kind):
            if column.null_count == len(column):  # .df() makes text of only NULLs (or of no rows) objects: None
                no_text.append(name)
        elif not (pt.is_floating(kind) or pt.is_timestamp(kind)):
            return None
    frame = table.to_pandas()
    for name in no_text:
        frame[name] = np.full(len(frame), None, dtype=object)
    for name, column in nullable.items():  # values and NULL mask, as pandas' IntegerArray / BooleanArray
        mask = column.is_null().to_numpy(zero_copy_only=False)
        if pt.is_boolean(column.type):
            frame[name] = pd.arrays.BooleanArray(column.fill_null(False).to_numpy(zero_copy_only=False), mask)
        else:
            frame[name] = pd.arrays.IntegerArray(np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False)), mask)
    return frame
