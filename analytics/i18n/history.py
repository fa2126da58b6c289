"""The words of the pipeline-history views (Pipeline changes, the trends, the forecast through the quarter), in
English and 简体中文; merged into analytics.i18n.text.TEXT."""

HISTORY_TEXT: dict[str, tuple[str, str]] = {
    "page_changes": ("Pipeline changes", "管道变化"),
    "trends_title": ("By the quarter deals were created in", "按商机创建季度"),
    "preferred_supplier_rate": ("Won once preferred supplier", "成为首选供应商后的赢单率"),
    "trends_note": ("Each quarter's deals, with 95% intervals; a quarter is drawn and tested once 80% of its deals "
                    "have closed.",
                    "每个季度创建的商机,附 95% 区间;一个季度的商机有 80% 已关闭后才绘出并参与检验。"),
    "trends_test": ("Trend in the win rate over {n} quarters: z = {z}, p = {p} (a weighted slope; below 0.05, the win "
                    "rate is changing).", "{n} 个季度的赢单率趋势:z = {z},p = {p}(加权斜率;低于 0.05 表示赢单率在变化)。"),
    "trends_untested": ("Too few quarters to test for a trend.", "季度太少,无法检验趋势。"),
    "forecast_path": ("Through the quarter", "本季度走势"),
    "pushed_out_deals": ("Pushed out of {quarter}: open deals whose expected close moved past it",
                         "推出 {quarter} 的商机:预计成交日期已移出本季度的在途商机"),
    "sheet_pushed_out": ("pushed_out", "推出本季"), "sheet_forecast_path": ("forecast_path", "本季走势"),
    "sheet_trends": ("trends", "趋势"),
    "backtest_by_week": ("The forecast as it stood in week 1, 4, 8 and 12 of each past quarter, against what was "
                         "booked: a forecast to trust in week 4 is the one that matters.",
                         "每个过往季度第 1、4、8、12 周时的预测与实际成交额对比:第 4 周就可信的预测才最有用。"),
    "forecast_path_note": ("The forecast as it stood at the start of each week, with the bookings won by then; one "
                           "win model, fitted at the quarter's start, serves every week.",
                           "每周初的预测及截至当时的已赢单金额;各周使用同一个在季度初拟合的赢单模型。"),
}
