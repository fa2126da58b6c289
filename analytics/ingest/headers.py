"""Which canonical file a header row is, and where each canonical column is in it: English names, or the Chinese ones
accepted for them, in any case and with stray spaces."""

from __future__ import annotations

import re

from analytics.domain import STAGE_NUMBERS
from analytics.store.schema import DEAL_COLUMNS

# Canonical headers and the Chinese ones accepted for them -------------------------------------------------------
DEAL_HEADERS_ZH = {
    "商机编号": "deal_id", "商机名称": "name", "客户": "account", "客户级别": "tier", "负责人": "owner", "区域": "region",
    "行业": "industry", "金额": "amount", "币种": "currency", "创建日期": "created_at",
    "预计成交日期": "expected_close", "关闭日期": "closed_at", "结果": "outcome", "丢单原因": "lost_reason",
    "项目等级": "project_level", "资金状况": "funding", "技术要求": "tech_fit", "客情关系": "relationship",
    "客户信誉": "credit", "产品": "product", "价格": "price", "技术方案": "solution", "售后服务": "service",
}
HISTORY_HEADERS_ZH = {"商机编号": "deal_id", "阶段": "stage", "进入日期": "entered_at", "预计成交日期": "expected_close",
                      "金额": "amount", "结果": "outcome"}
HISTORY_COLUMNS = ("deal_id", "stage", "entered_at")
# optional in a stage history: the deal's expected close and amount from that date on (a row whose stage is empty
# records a change of these alone)
HISTORY_CHANGE_COLUMNS = ("expected_close", "amount", "outcome")
WIDE_STAGE_COLUMNS = tuple(f"stage_{n}_at" for n in STAGE_NUMBERS)
WIDE_STAGE_HEADERS_ZH = {f"阶段{n}进入日期": f"stage_{n}_at" for n in STAGE_NUMBERS}
# history_truncated (optional): true when the recorded history starts mid-way, so earlier stages are unobserved
IMPORTED_DEAL_COLUMNS = (*DEAL_COLUMNS, "history_truncated")
# Only what no analysis can exist without: the deal's identity and its outcome (the stages come from the history).
REQUIRED_DEAL_COLUMNS = ("deal_id", "outcome")


def canonical_deal_fields(header: list[str]) -> set[str]:
    """The canonical deal fields (wide stage columns included) a header names."""
    return set(map_header(header, {**DEAL_HEADERS_ZH, **WIDE_STAGE_HEADERS_ZH},
                          IMPORTED_DEAL_COLUMNS + WIDE_STAGE_COLUMNS)[0])


def classify_header(header: list[str]) -> str:
    """'history' for a long stage history, 'wide' for deals with stage_N_at columns, else 'deals'."""
    fields, _ = map_header(header, {**DEAL_HEADERS_ZH, **WIDE_STAGE_HEADERS_ZH}, DEAL_COLUMNS + WIDE_STAGE_COLUMNS)
    history, _ = map_header(header, HISTORY_HEADERS_ZH, HISTORY_COLUMNS)
    if set(HISTORY_COLUMNS) <= set(history) and "account" not in fields:
        return "history"
    return "wide" if any(f in fields for f in WIDE_STAGE_COLUMNS) else "deals"


def normalise_header(name: str) -> str:
    name = name.strip().lstrip("\ufeff").strip().strip('"').strip()
    return re.sub(r"[\s\-]+", "_", name.casefold())


def map_header(header: list[str], zh: dict[str, str], canonical: tuple[str, ...]) -> tuple[dict[str, int], list[int]]:
    """Canonical field → column index, and the indexes of columns we do not recognise."""
    fields: dict[str, int] = {}
    unknown: list[int] = []
    for i, raw in enumerate(header):
        key = normalise_header(raw)
        canonical_name = zh.get(raw.strip().lstrip("\ufeff")) or (key if key in canonical else None)
        if canonical_name and canonical_name not in fields:
            fields[canonical_name] = i
        else:
            unknown.append(i)
    return fields, unknown
