"""Safe exports: spreadsheet formula injection is neutralised in every cell a user's data reaches."""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(df):
    """A copy of `df` with every text cell and column name neutralised (object and string dtypes alike)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = df.copy()
    for column in out.columns:
        if is_object_dtype(out[column]) or is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def safe_csv_bytes(df) -> bytes:
    """CSV (UTF-8 with BOM, so Excel reads Chinese correctly) with every text cell neutralised."""
    return neutralise_frame(df).to_csv(index=False).encode("utf-8-sig")
