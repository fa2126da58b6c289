"""Typing a cell in SQL: the expressions that turn a staged text cell into a date, an amount, a label or a mapped
value, or NULL when it is not one (the checks then name the cell). Every value they compare against is bound."""

from __future__ import annotations

MAX_TEXT_LENGTH = 1000
MAX_AMOUNT = 1e12
DATE_RANGE = ("1970-01-01", "2100-12-31")


_CURRENCY_MARKS = r"(?:¥|￥|\$|€|£|RMB|CNY|USD|EUR|GBP)?"
AMOUNT_PATTERN = rf"^[-+]?\s*{_CURRENCY_MARKS}\s*[-+]?[0-9]{{1,3}}(?:,?[0-9]{{3}})*(?:\.[0-9]+)?\s*{_CURRENCY_MARKS}$"
AMOUNT_PATTERN_DECIMAL_COMMA = (
    rf"^[-+]?\s*{_CURRENCY_MARKS}\s*[-+]?[0-9]{{1,3}}(?:[. ]?[0-9]{{3}})*(?:,[0-9]+)?\s*{_CURRENCY_MARKS}$")


# SQL expressions over a raw VARCHAR column. `x` is always one of our generated identifiers (c0, c1, …). ----------
WHITE = "[\\s\\pZ]"  # white space, tabs and full-width or no-break spaces (U+3000, U+00A0) included


def stripped_sql(x: str) -> str:
    """x without white space of any kind at either end (DuckDB's trim() removes only the plain space); the pattern
    runs only on the values that start or end with white space."""
    return (f"CASE WHEN regexp_matches({x}, '^{WHITE}|{WHITE}$') "
            f"THEN regexp_replace({x}, '^{WHITE}+|{WHITE}+$', '', 'g') ELSE {x} END")


def text_sql(x: str) -> str:
    """x stripped, or NULL when nothing is left."""
    return f"nullif({stripped_sql(x)}, '')"


def spaced_sql(x: str) -> str:
    """x trimmed, each run of white space (of any kind, as in text_sql) one space. For labels, after their fast path."""
    return f"trim(regexp_replace({x}, '{WHITE}+', ' ', 'g'))"


def label_sql(x: str) -> str:
    return f"lower({spaced_sql(x)})"


def date_sql(x: str) -> str:
    # 2026-06-09 and 2026-6-9 11:00:27 (or 11:00:27.123: some exports write fractions of a second) take DuckDB's
    # fast cast; 2026/6/9, 2026.6.9 and 2026年6月9日 have their date rewritten to that form first. The pattern keeps
    # the cast from accepting anything else (a bare number, say). The canonical shapes (what the generator and most
    # exports write) skip the patterns: a LIKE is far cheaper.
    cleaned = (f"regexp_replace({stripped_sql(x)}, '^([0-9]{{4}})[/.年]([0-9]{{1,2}})[/.月]([0-9]{{1,2}})日?', "
               f"'\\1-\\2-\\3')")
    return (f"CASE WHEN {x} LIKE '____-__-__' OR {x} LIKE '____-__-__ __:__:__' THEN try_cast({x} AS TIMESTAMP) "
            f"WHEN regexp_full_match({stripped_sql(x)}, '[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}"
            f"([ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?)?') THEN try_cast({stripped_sql(x)} AS TIMESTAMP) "
            f"WHEN regexp_full_match({stripped_sql(x)}, '[0-9]{{4}}[/.年][0-9]{{1,2}}[/.月][0-9]{{1,2}}日?"
            f"([ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?)?') THEN try_cast({cleaned} AS TIMESTAMP) END")


def amount_sql(x: str, decimal_comma: bool) -> str:
    """The pattern itself is bound as $amount_pattern (Importer.params)."""
    digits = (f"replace(regexp_replace({x}, '[^0-9,\\-]', '', 'g'), ',', '.')" if decimal_comma
              else f"regexp_replace({x}, '[^0-9.\\-]', '', 'g')")
    # the plain form (-1234.5) skips the pattern; with a decimal comma declared, a dot groups thousands (1.234 is
    # 1234), so only whole numbers are plain there
    plain_form = "-?[0-9]+" if decimal_comma else "-?[0-9]+(\\.[0-9]+)?"
    plain = f"CASE WHEN regexp_full_match({x}, '{plain_form}') THEN CAST({x} AS DOUBLE) END"
    return (f"coalesce({plain}, CASE WHEN regexp_full_match({stripped_sql(x)}, $amount_pattern) "
            f"THEN try_cast({digits} AS DOUBLE) END)")


def case_map_sql(x: str, mapping: dict[str, object], prefix: str, params: dict) -> str:
    """CASE over bound parameters: every label and value is a parameter, never SQL text. A value written exactly
    as its canonical form (won, 3) passes straight through; only the others are normalised (a regex per row)."""
    whens = []
    for i, (label, value) in enumerate(mapping.items()):
        params[f"{prefix}_k{i}"] = label
        params[f"{prefix}_v{i}"] = value
        whens.append(f"WHEN ${prefix}_k{i} THEN ${prefix}_v{i}")
    canonical = [i for i, (label, value) in enumerate(mapping.items()) if str(value) == label]
    normalised = f"CASE {label_sql(x)} {' '.join(whens)} END"
    if not canonical:
        return normalised
    exact = ", ".join(f"${prefix}_k{i}" for i in canonical)
    as_is = x if all(isinstance(v, str) for v in mapping.values()) else f"CAST({x} AS INTEGER)"
    return f"CASE WHEN {x} IN ({exact}) THEN {as_is} ELSE {normalised} END"


IN_DATE_RANGE = "BETWEEN CAST($date_min AS TIMESTAMP) AND CAST($date_max AS TIMESTAMP)"


def cell_params(decimal_comma: bool) -> dict[str, object]:
    """The values the typing expressions and checks bind: the amount pattern (decimal point or comma), the date
    range, the longest text and the largest amount."""
    return {"amount_pattern": AMOUNT_PATTERN_DECIMAL_COMMA if decimal_comma else AMOUNT_PATTERN,
            "date_min": DATE_RANGE[0], "date_max": DATE_RANGE[1], "max_text": MAX_TEXT_LENGTH,
            "max_amount": MAX_AMOUNT}
