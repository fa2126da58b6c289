"""The words of targets, attainment and forecast calls (the Overview, the Targets & calls page), in English and
简体中文; merged into analytics.i18n.text.TEXT, and their table columns into analytics.i18n.columns.COLUMNS."""

PLANS_TEXT: dict[str, tuple[str, str]] = {
    "page_calls": ("Targets & calls", "目标与预测提报"),
    "overview_no_target": ("No target for {quarter} yet: import a targets file on the Import page.",
                           "{quarter} 尚无目标:请在“导入”页面导入目标文件。"),
    "attainment": ("Attainment", "达成率"),
    "attainment_by": ("Attainment by {by}", "按{by}的达成率"),
    "p_reach_short": ("P(reach)", "达成概率"),
    "attainment_won": ("Won ÷ target", "已赢单 ÷ 目标"),
    "attainment_p50": ("P50 ÷ target", "P50 ÷ 目标"),
    "attainment_caption": ("Coverage = {formula}. P(reach) of a team and of the whole: their units' simulated "
                           "bookings added draw by draw.",
                           "覆盖率 = 季度内预计成交的在途金额 ÷(目标 − 已赢单)。团队和整体的达成概率:其成员的模拟成交逐次相加后计算。"),
    "by_team": ("team", "团队"),
    "by_owner_word": ("owner", "负责人"),
    "by_region_word": ("region", "区域"),
    "week_changes": ("The last 7 days ({from_day} → {to_day})", "最近 7 天({from_day} → {to_day})"),
    "attention": ("Deals that need attention", "需要关注的商机"),
    "attention_counts": ("Of the open deals: P(win) fell {p_win_fell}, slipping {slipping}, stalled {stalled}, "
                         "large {large}.", "在途商机中:赢单概率下降 {p_win_fell} 个,多次推迟 {slipping} 个,停滞 {stalled} 个,"
                                          "大额 {large} 个。"),
    "reason_p_win_fell": ("P(win) fell", "赢单概率下降"),
    "reason_slipping": ("slipping", "多次推迟"),
    "reason_stalled": ("stalled", "停滞"),
    "reason_large": ("large", "大额"),
    "claim_tile": ("Once preferred supplier: won {p} (95%: {lo}–{hi}) against the {threshold} claimed: {verdict}",
                   "成为首选供应商后赢单率 {p}(95%:{lo}–{hi}),论断为 {threshold}:{verdict}"),
    "go_forecast": ("Forecast", "预测"),
    "go_calls": ("Targets & calls", "目标与预测提报"),
    "go_changes": ("Pipeline changes", "管道变化"),
    "go_deals": ("Deals", "商机"),
    "go_claim": ("The claim", "论断"),
    "calls_unfiltered": ("Targets and calls are set for owners, teams and regions: this page shows them all, whatever "
                         "the sidebar's filters.", "目标和提报是按负责人、团队和区域设定的:本页显示全部,不受侧边栏筛选影响。"),
    "calls_title": ("Forecast calls", "预测提报"),
    "calls_none": ("No forecast calls yet.", "尚无预测提报。"),
    "calls_accuracy": ("The calls against the actual, beside keyfunnel's P50 on the same days",
                       "提报与实际成交对比,并列 keyfunnel 同日的 P50"),
    "calls_accuracy_note": ("Accuracy = max(0, 1 − |actual − forecast| ÷ actual), for the commit and for keyfunnel's "
                            "P50 standing on the day of each call (the last call before the quarter and before weeks "
                            "4, 8 and 12). Bias = (forecast − actual) ÷ actual; a verdict needs its 95% interval to "
                            "exclude 0.",
                            "准确度 = max(0, 1 − |实际 − 预测| ÷ 实际),分别计算承诺金额与 keyfunnel 在每次提报当日的 P50"
                            "(季度开始前以及第 4、8、12 周前的最后一次提报)。偏差 = (预测 − 实际) ÷ 实际;其 95% 区间不含 0 才给出结论。"),
    "calls_no_closed": ("No closed quarter has calls yet: accuracy appears once one ends.",
                        "尚无已结束且有提报的季度:季度结束后才显示准确度。"),
    "call_form": ("Record a call", "录入预测提报"),
    "call_unit": ("Owner or team", "负责人或团队"),
    "call_commit": ("Commit", "承诺金额"),
    "call_best_case": ("Best case", "最佳情况"),
    "call_note": ("Note", "备注"),
    "call_submit": ("Record the call", "提交"),
    "call_recorded": ("Call {call_id} recorded. Earlier calls stay in the history.", "提报 {call_id} 已记录,之前的提报保留在历史中。"),
    "calls_viewer": ("Analysts record calls; you can read them.", "分析师可录入提报;您可以查看。"),
    "verdict_over-calls": ("over-calls", "高报"),
    "verdict_sandbags": ("sandbags", "低报"),
    "verdict_balanced": ("balanced", "无明显偏差"),
    "verdict_too-few": ("too few quarters", "季度太少"),
    "template_targets": ("Targets", "目标"),
    "template_teams": ("Teams", "团队"),
    "template_calls": ("Forecast calls", "预测提报"),
    "file_kind_plans": ("targets, teams or calls", "目标、团队或提报"),
    "unit_kind_owner": ("owner", "负责人"),
    "unit_kind_team": ("team", "团队"),
    "unit_kind_region": ("region", "区域"),
    "unit_kind_all": ("whole team", "全队"),
}

PLANS_COLUMNS: dict[str, tuple[str, str]] = {
    "unit": ("Unit", "对象"), "kind": ("Kind", "类型"), "team": ("Team", "团队"), "rollup": ("Roll-up", "汇总"),
    "target": ("Target", "目标"), "won": ("Won", "已赢单"), "attainment": ("Attainment", "达成率"),
    "open_pipeline": ("Open pipeline in the quarter", "季度内在途金额"), "weighted_pipeline": ("Weighted pipeline", "加权在途金额"),
    "pipeline_coverage": ("Coverage", "覆盖率"), "p50": ("P50", "P50"), "p_reach_target": ("P(reach)", "达成概率"),
    "period": ("Period", "期间"), "commit": ("Commit", "承诺金额"), "best_case": ("Best case", "最佳情况"),
    "note": ("Note", "备注"), "entered_by": ("Entered by", "填报人"), "called_at": ("Called", "填报日期"),
    "superseded": ("Superseded", "已被取代"), "unit_kind": ("Kind", "类型"), "model_p50": ("keyfunnel P50", "keyfunnel P50"),
    "call_accuracy": ("Call accuracy", "提报准确度"), "model_accuracy": ("keyfunnel accuracy", "keyfunnel 准确度"),
    "call_bias": ("Call bias", "提报偏差"), "bias_verdict": ("Verdict", "结论"), "model_bias": ("keyfunnel bias", "keyfunnel 偏差"),
    "in_range_share": ("Actual within commit–best case", "实际落在承诺与最佳情况之间"), "points": ("Calls scored", "参与评分的提报"),
    "p_win_week_ago": ("P(win) a week ago", "一周前赢单概率"), "p_win_change": ("1-week change", "一周变化"), "reasons": ("Why", "原因"),
}
