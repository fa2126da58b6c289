"""One format per kind of number, for the app, the CLI's text, the review's HTML and its workbook alike.

- counts: whole, with thousands separators (3,000);
- shares: one decimal (33.0%), and intervals as two of them (31.2% – 34.9%);
- days: whole;
- money: whole units with separators in tables (1,361,165,300); short in tiles and on axes, as the language
  counts: 28.6M and 107.2K in English, 2,860万 and 1.36亿 in Chinese (万 = 10⁴, 亿 = 10⁸), with the reporting
  currency after it when the data names one (28.6M CNY, 2,860万元, 1.8M USD);
- a missing value: "–".
"""

from __future__ import annotations

import math
import re

MISSING = "–"
PERCENT_DIGITS = 1


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def count(n) -> str:
    return MISSING if _missing(n) else f"{int(n):,}"


def percent(x, digits: int = PERCENT_DIGITS) -> str:
    return MISSING if _missing(x) else f"{x:.{digits}%}"


def interval(ci, digits: int = PERCENT_DIGITS) -> str:
    return MISSING if ci is None or _missing(ci[0]) else f"{percent(ci[0], digits)} – {percent(ci[1], digits)}"


def days(x) -> str:
    return MISSING if _missing(x) else f"{x:,.0f}"


def money(x, currency: str | None = None) -> str:
    if _missing(x):
        return MISSING
    return f"{x:,.0f}" + (f" {currency}" if currency else "")


def money_short(x, lang: str = "en", currency: str | None = None) -> str:
    """28.6M / 2,860万: a figure that fits a tile or an axis tick."""
    if _missing(x):
        return MISSING
    if lang == "zh":
        if abs(x) >= 1e8:
            text = f"{x / 1e8:.2f}亿"
        elif abs(x) >= 1e6:
            text = f"{x / 1e4:,.0f}万"
        elif abs(x) >= 1e4:
            text = f"{x / 1e4:.1f}万"
        else:
            text = f"{x:,.0f}"
    else:
        for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if abs(x) >= factor:
                text = f"{x / factor:.1f}{suffix}"
                break
        else:
            text = f"{x:,.0f}"
    return text + _unit(currency, lang)


def currency_name(currency: str, lang: str = "en") -> str:
    """How a currency is written beside a figure: 元 in Chinese for the yuan, else its code."""
    return "元" if lang == "zh" and currency.upper() in ("CNY", "RMB") else currency


def _unit(currency: str | None, lang: str) -> str:
    if not currency:
        return ""
    name = currency_name(currency, lang)
    return name if name == "元" else f" {name}"


def money_ticks(low: float, high: float, lang: str = "en", n: int = 5) -> tuple[list[float], list[str]]:
    """Round tick values across [low, high] and their money_short labels: for a figure's money axis, so that
    Chinese reads 万 and 亿 where plotly's own SI format would write M and G."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [], []
    raw = (high - low) / max(n, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    values = [first + i * step for i in range(int((high - first) / step) + 1)]
    return values, [money_short(v, lang) for v in values]


_MULTIPLIERS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "万": 1e4, "亿": 1e8}


def parse_money(text: str) -> float | None:
    """A money amount as a person types it: 30000000, 30,000,000, 30M, 2.5k, 3000万, 1.2亿 (None when blank).
    Raises ValueError for anything else."""
    cleaned = text.strip().replace(",", "").replace("，", "").replace(" ", "")
    if not cleaned:
        return None
    unit = cleaned[-1].lower() if cleaned[-1].lower() in _MULTIPLIERS else ""
    number = cleaned[:-1] if unit else cleaned
    value = float(number) * _MULTIPLIERS[unit]  # ValueError when it is not a number
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def natural_key(text: str) -> list:
    """Sort key that puts "Owner 9" before "Owner 10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]
