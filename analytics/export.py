"""Safe exports: spreadsheet formula injection is neutralised in every cell a user's data reaches."""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_csv_bytes(df) -> bytes:
    """CSV (UTF-8 with BOM, so Excel reads Chinese correctly) with every text cell neutralised."""
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("string"):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out.to_csv(index=False).encode("utf-8-sig")
