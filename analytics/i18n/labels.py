"""How values read: stage names, tier policies, lost reasons and blank groupings in the reader's language."""

from __future__ import annotations

from analytics.domain import MISSING_VALUE, TIERS, stage
from analytics.i18n.text import t

# Lost reasons as CRMs commonly word them (and the sample generator writes them): shown in the reader's language.
# Any other reason is the team's own text and is shown as written.
LOST_REASONS = {"price": ("Price", "价格"), "competitor": ("Competitor", "竞争对手"),
                "budget cut": ("Budget cut", "预算削减"), "no decision": ("No decision", "未决策"),
                "timing": ("Timing", "时机"), "technical fit": ("Technical fit", "技术不匹配")}


def value_label(value: str, lang: str = "en") -> str:
    """A grouping value as shown: the placeholder for a blank one (domain.MISSING_VALUE) in the reader's language,
    any other value as the data spells it."""
    return t("not_set", lang) if value == MISSING_VALUE else value


def lost_reason_label(reason: str, lang: str = "en") -> str:
    en, zh = LOST_REASONS.get(reason.strip().lower(), (reason, reason))
    return zh if lang == "zh" else en


def stage_label(number: int, lang: str = "en") -> str:
    return f"{number}. {stage(number).name(lang)}"


def with_stage_labels(df, lang: str = "en"):
    """A table's stage numbers as stages are named ("6. Project evaluation"), one label per distinct stage."""
    if "stage" not in df.columns or df.empty:
        return df
    labels = {s: stage_label(int(s), lang) for s in df["stage"].unique()}
    return df.assign(stage=df["stage"].map(labels))


def tier_policy(key: str, lang: str = "en") -> str:
    return next(tr.policy(lang) for tr in TIERS if tr.key == key)
