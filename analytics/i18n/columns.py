"""Table columns as a reader sees them: each column's label in English and Chinese, and which columns hold money and
shares (ui.table formats them by kind)."""

from __future__ import annotations

from analytics.domain import FACTORS
from analytics.i18n.plans import PLANS_COLUMNS
from analytics.i18n.text import TEXT

# Column names of the tables the app shows, in both languages. Deal columns take the import format's headers.
# How a column's figures are shown, by its name, in the app's tables and the review's HTML and workbook.
MONEY_COLUMNS = frozenset({"amount", "expected_value", "expected", "won_to_date", "p10", "p90", "forecast", "actual",
                           "target", "won", "open_pipeline", "weighted_pipeline", "p50", "commit", "best_case",
                           "model_p50"})
SHARE_COLUMNS = frozenset({"p_win", "win_probability", "mape", "bias", "coverage", "conversion_then",
                           "conversion_now", "attainment", "p_reach_target", "call_accuracy", "model_accuracy",
                           "call_bias", "model_bias", "in_range_share", "p_win_week_ago", "p_win_change"})

COLUMNS: dict[str, tuple[str, str]] = {
    "deal_id": ("Deal ID", "商机编号"), "name": ("Deal", "商机名称"), "account": ("Account", "客户"),
    # fields of the import's column mapping
    "outcome": ("Outcome", "结果"), "currency": ("Currency", "币种"), "created_at": ("Created", "创建日期"),
    "closed_at": ("Closed", "关闭日期"), "lost_reason": ("Lost reason", "丢单原因"),
    "close_date": ("Close date", "成交日期"), "is_won": ("Won (true/false)", "是否赢单"),
    "is_closed": ("Closed (true/false)", "是否关闭"), "stage_changed_at": ("Stage changed", "阶段变更日期"),
    "status": ("Status", "状态"), "status_reason": ("Status reason", "状态原因"), "modified_at": ("Modified", "修改日期"),
    "actual_close": ("Actual close", "实际成交日期"), "actual_revenue": ("Actual revenue", "实际收入"),
    "pipeline": ("Pipeline", "销售管道"), "snapshot_date": ("Snapshot date", "快照日期"),
    **{f.key: (f.name_en, f.name_zh) for f in FACTORS}, "owner": ("Owner", "负责人"),
    "tier": ("Tier", "客户级别"), "region": ("Region", "区域"), "industry": ("Industry", "行业"),
    "bucket": ("Change", "变化"), "deals": ("Deals", "商机数"), "push_count": ("Close pushed (times)", "推迟次数"),
    "days_pushed": ("Days pushed", "推迟天数"), "first_expected_close": ("First expected close", "最初预计成交日期"),
    "stage": ("Stage", "阶段"), "amount": ("Amount", "金额"), "expected_close": ("Expected close", "预计成交日期"),
    "p_win": ("P(win)", "赢单概率"), "win_probability": ("Stage win rate", "阶段赢单率"),
    "expected_value": ("Expected value", "期望金额"), "predicted_close": ("Predicted close", "预测成交日期"),
    "recommended_tier": ("Recommended tier", "建议级别"), "assigned_tier": ("Assigned tier", "当前级别"),
    "days_in_stage": ("Days in stage", "本阶段天数"), "threshold_days": ("Won deals' p90 (days)", "赢单商机 p90(天)"),
    "days_to_close": ("Days to close", "距预计成交天数"), "exit_criterion": ("Next commitment", "当前阶段退出标准"),
    "key": ("", ""), "won_to_date": ("Won to date", "本季已赢单"), "expected": ("Expected", "期望值"),
    "batch_id": ("Batch", "批次"), "format": ("Format", "格式"),
    "files": ("Files", "文件"), "file": ("File", "文件"), "row": ("Row", "行"), "column": ("Column", "列"),
    "value": ("Value", "值"), "reason": ("Reason", "原因"), "mode": ("Mode", "模式"),
    # forecast and model tables
    "item": ("Item", "项目"), "quarter": ("Quarter", "季度"), "forecast": ("Forecast", "预测"),
    "actual": ("Actual", "实际"), "method": ("Forecast", "预测方法"), "category": ("Category", "类别"), "p10": ("P10", "P10"), "p90": ("P90", "P90"),
    "mape": ("MAPE", "MAPE"), "mase": ("MASE", "MASE"), "bias": ("Bias", "偏差"),
    "coverage": ("P10–P90 coverage", "P10–P90 覆盖率"),
    "week": ("Week of the quarter", "季度第几周"), "quarters": ("Quarters", "季度数"),
    "n_train": ("Training deals", "训练商机数"), "n_test": ("Test deals", "检验商机数"), "auc": ("AUC", "AUC"),
    "brier": ("keyfunnel", "keyfunnel"), "brier_stage_rate": ("Stage win rate", "阶段赢单率"),
    "brier_crm_default": ("CRM default", "CRM 默认"), "ece": ("ECE", "ECE"),
    # import batches
    "file_sha256": ("SHA-256 of each file", "各文件 SHA-256"), "rows_read": ("Rows read", "读取行数"),
    "deals_inserted": ("Deals added", "新增商机"), "deals_updated": ("Deals updated", "更新商机"),
    "stage_events_added": ("Stage events added", "新增阶段记录"), "rows_rejected": ("Rows rejected", "拒绝行数"),
    "warnings": ("Warnings", "警告"), "started_at": ("Started", "开始时间"), "finished_at": ("Finished", "完成时间"),
    "undone_at": ("Undone", "撤销时间"),
    **PLANS_COLUMNS,
}


def column_label(name: str, lang: str = "en") -> str:
    """A table column's header: its COLUMNS label, else the TEXT of that key (the funnel's "reached"), else the
    name itself."""
    en, zh = COLUMNS.get(name) or TEXT.get(name) or (name, name)
    return (zh if lang == "zh" else en) or name
