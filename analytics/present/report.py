"""The quarterly review as files to circulate: a self-contained HTML page (plotly.js embedded: it opens offline)
and an Excel workbook. Every user-supplied string is escaped in the HTML and neutralised in the workbook."""

from __future__ import annotations

import html
from pathlib import Path

from analytics import formatting
from analytics.forecasting.review import QuarterlyReview, funnel_change_rows
from analytics.i18n.columns import MONEY_COLUMNS, SHARE_COLUMNS, column_label
from analytics.i18n.labels import stage_label, value_label, with_stage_labels
from analytics.i18n.text import amount_coverage, t
from analytics.present.export import neutralise_frame
from analytics.present.forecast_figures import review_figures

_money, _pct = formatting.money, formatting.percent


def _html_table(header: list[str], rows: list[list], numeric: set[int]) -> str:
    """An HTML table of text cells; the columns in `numeric` are right-aligned, as figures are read."""
    def cells(values, tag):
        return "".join(f'<{tag} class="num">{html.escape(str(v))}</{tag}>' if i in numeric
                       else f"<{tag}>{html.escape(str(v))}</{tag}>" for i, v in enumerate(values))
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f'<table class="table"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{body}</tbody></table>'


def _table(df, lang: str) -> str:
    import pandas as pd

    if df is None or len(df) == 0:
        return "<p>–</p>"
    shown = with_stage_labels(df, lang).copy()
    numeric = {i for i, c in enumerate(shown.columns) if pd.api.types.is_numeric_dtype(shown[c])}
    for c in shown.columns:
        if c in MONEY_COLUMNS:
            shown[c] = shown[c].map(_money)
        elif c in SHARE_COLUMNS:
            shown[c] = shown[c].map(_pct)
        elif pd.api.types.is_datetime64_any_dtype(shown[c]):  # dates: the review's are days, not instants
            shown[c] = shown[c].dt.strftime("%Y-%m-%d")
    shown = shown.astype(object).where(shown.notna(), "–")  # NaN, NaT and None (a deal with no predicted close)
    return _html_table([column_label(c, lang) for c in shown.columns], shown.values.tolist(), numeric)


def render_html(review: QuarterlyReview, lang: str = "en") -> str:
    e = html.escape
    f = review.forecast
    dist, change = review_figures(review, lang)
    last = review.last_quarter
    last_html = (f"<p>{e(t('last_quarter', lang))} {e(last.quarter)}: {e(t('forecast', lang))} {_money(last.forecast)}"
                 f" [{_money(last.p10)} – {_money(last.p90)}], {e(t('actual', lang))} {_money(last.actual)}</p>"
                 if last else "<p>–</p>")
    categories = _html_table([t("category", lang), t("expected", lang)],
                             [[t("cat_" + b.key, lang), _money(b.expected)] for b in f.by_category], {1})
    owners = _html_table([t("owner", lang), t("won_to_date", lang), t("expected", lang)],
                         [[value_label(b.key, lang), _money(b.won_to_date), _money(b.expected)] for b in f.by_owner],
                         {1, 2})
    moved = ""
    if review.waterfall is not None:  # the review opens with what moved since the quarter began
        from analytics.present.figures import waterfall_figure

        moved = (f"<h2>{e(t('what_changed', lang, quarter=review.quarter))}</h2>"
                 + waterfall_figure(review.waterfall, lang).to_html(full_html=False, include_plotlyjs=True))
    if review.pushed_out is not None and len(review.pushed_out):
        moved += f"<h3>{e(t('pushed_out_deals', lang, quarter=review.quarter))}</h3>{_table(review.pushed_out, lang)}"
    path = ""
    if review.path:  # the forecast week by week, against the target
        from analytics.present.forecast_figures import path_figure

        path = (f"<h2>{e(t('forecast_path', lang))}</h2><p>{e(t('forecast_path_note', lang))}</p>"
                + path_figure(review.path, f.target, lang).to_html(full_html=False, include_plotlyjs=not moved))
    trends = ""
    if review.trends is not None and review.trends.periods:
        from analytics.present.figures import trends_figure

        trends = (f"<h2>{e(t('trends_title', lang))}</h2><p>{e(t('trends_note', lang))}</p>"
                  + trends_figure(review.trends, lang).to_html(full_html=False, include_plotlyjs=False))
    then, now = review.last_quarter_name, t("now", lang)
    funnel_table = _html_table(
        [t("stage", lang), then, now, f"{t('conversion', lang)} {then}", f"{t('conversion', lang)} {now}"],
        [[stage_label(r["stage"], lang), f"{r['reached_then']:,}", f"{r['reached_now']:,}", _pct(r["conversion_then"]),
          _pct(r["conversion_now"])] for r in funnel_change_rows(review)], {1, 2, 3, 4})
    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<title>{e(t('review_title', lang))} {e(review.quarter)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}}
.num{{text-align:right}}.big{{font-size:1.4em}}</style></head><body>
<h1>{e(t('review_title', lang))} {e(review.quarter)}</h1>
<p>{e(t('as_of', lang))} {review.as_of.isoformat()}. {e(t('small_data_note' if f.mode == 'small-data' else 'full_data_note', lang))}</p>
{moved}
<h2>{e(t('this_quarter', lang))}</h2>
{"".join(f"<p><strong>{e(note)}</strong></p>" for note in coverage_notes(review, lang))}
<p class="big">{e(t('expected', lang))} {_money(f.expected)} · P10 {_money(f.p10)} · P50 {_money(f.p50)} · P90 {_money(f.p90)}
· {e(t('won_to_date', lang))} {_money(f.won_to_date)}</p>
{path}
{dist.to_html(full_html=False, include_plotlyjs=not (moved or path))}
{categories}
{owners}
<h2>{e(t('last_quarter', lang))}</h2>{last_html}
<h2>{e(t('funnel_change', lang))}</h2>
{change.to_html(full_html=False, include_plotlyjs=False)}
{funnel_table}
{trends}
<h2>{e(t('top_deals', lang))}</h2>{_table(review.top_deals, lang)}
<h2>{e(t('slipped_deals', lang))}</h2>{_table(review.slipped_deals, lang)}
</body></html>"""


def refutation_note(review: QuarterlyReview, lang: str = "en") -> str | None:
    """What to say above the range when the forecast's own backtest refutes it (Backtest.refutes_range)."""
    if review.backtest is None or not review.backtest.refutes_range:
        return None
    s = review.backtest.summary
    return t("backtest_refutes", lang, n=len(review.backtest.quarters), coverage=f"{s.coverage or 0:.0%}",
             mape="–" if s.mape is None else f"{s.mape:.0%}")


def coverage_notes(review: QuarterlyReview, lang: str = "en") -> list[str]:
    """What the review's figures cannot be trusted for, in `lang`: a range its own backtest refutes, deals without
    an amount, and open ones the forecast counted at their stage's median amount. Empty when none applies."""
    notes = [note for note in (refutation_note(review, lang), amount_coverage(review.funnel_now, lang)) if note]
    if review.forecast.amount_imputed:
        notes.append(t("forecast_imputed", lang, n=review.forecast.amount_imputed))
    return notes


def xlsx_bytes(review: QuarterlyReview, lang: str = "en") -> bytes:
    """The review's workbook as bytes, for a download."""
    import io

    buffer = io.BytesIO()
    write_xlsx(review, buffer, lang)
    return buffer.getvalue()


def write_xlsx(review: QuarterlyReview, path: str | Path, lang: str = "en") -> Path:
    """The review as a workbook in `lang`: one sheet per part of the review, headed as the app heads its columns.
    Figures stay numbers (money unrounded, rates as fractions) for the analyst's own formulas."""
    import pandas as pd

    f = review.forecast
    path = Path(path) if isinstance(path, (str, Path)) else path  # a path, or a file-like buffer
    last_q, now = review.last_quarter_name, t("now", lang)

    def sheet(frame: pd.DataFrame, name: str, labels: dict[str, str] | None = None) -> tuple[pd.DataFrame, str, list]:
        """The frame as written, its sheet's name, and each column's number format (by its canonical name)."""
        frame = with_stage_labels(frame, lang)
        formats = ["#,##0" if c in MONEY_COLUMNS else "0.0%" if c in SHARE_COLUMNS else None for c in frame.columns]
        frame = frame.rename(columns={c: (labels or {}).get(c) or column_label(c, lang) for c in frame.columns})
        return neutralise_frame(frame), t(f"sheet_{name}", lang), formats

    def breakdown(rows, by: str) -> pd.DataFrame:
        return pd.DataFrame([{by: value_label(b.key, lang), "won_to_date": b.won_to_date, "expected": b.expected}
                             for b in rows])

    summary = pd.DataFrame([
        {"item": t("quarter", lang), "value": review.quarter}, {"item": t("as_of", lang), "value": review.as_of},
        {"item": t("won_to_date", lang), "value": f.won_to_date}, {"item": t("expected", lang), "value": f.expected},
        {"item": "P10", "value": f.p10}, {"item": "P50", "value": f.p50}, {"item": "P90", "value": f.p90},
        {"item": column_label("mode", lang), "value": t(f"mode_{f.mode}", lang)},
        *({"item": "", "value": note} for note in coverage_notes(review, lang))])
    categories = pd.DataFrame([{"category": t("cat_" + b.key, lang), "expected": b.expected, "p10": b.p10,
                                "p90": b.p90} for b in f.by_category])
    funnel = pd.DataFrame(funnel_change_rows(review))
    sheets = []
    if review.waterfall is not None:  # the workbook opens with what moved, as the review does
        w = review.waterfall
        sheets.append(sheet(pd.DataFrame(
            [{"bucket": t("pipeline_on", lang, day=w.from_date.isoformat()), "deals": w.start_deals,
              "amount": w.start_amount},
             *({"bucket": t(f"bucket_{b.bucket}", lang), "deals": b.deals, "amount": b.amount} for b in w.buckets),
             {"bucket": t("pipeline_on", lang, day=w.to_date.isoformat()), "deals": w.end_deals,
              "amount": w.end_amount}]), "what_changed"))
    if review.pushed_out is not None and len(review.pushed_out):
        sheets.append(sheet(review.pushed_out, "pushed_out"))
    sheets.append(sheet(summary, "forecast"))
    if review.path:
        from dataclasses import asdict

        sheets.append(sheet(pd.DataFrame([asdict(w) for w in review.path]), "forecast_path"))
    sheets += [sheet(categories, "by_category"),
              sheet(breakdown(f.by_owner, "owner"), "by_owner"), sheet(breakdown(f.by_tier, "tier"), "by_tier"),
              sheet(funnel, "funnel_change", {
                  "reached_then": f"{t('reached', lang)} {last_q}", "reached_now": f"{t('reached', lang)} {now}",
                  "conversion_then": f"{t('conversion', lang)} {last_q}",
                  "conversion_now": f"{t('conversion', lang)} {now}"})]
    if review.last_quarter:
        last = review.last_quarter
        sheets.append(sheet(pd.DataFrame([{"quarter": last.quarter, "forecast": last.forecast, "p10": last.p10,
                                           "p90": last.p90, "actual": last.actual}]), "last_quarter"))
    if review.trends is not None and review.trends.periods:
        sheets.append(sheet(review.trends.to_frame(), "trends"))
    sheets += [sheet(review.top_deals, "top_deals"), sheet(review.slipped_deals, "slipped_deals")]
    with pd.ExcelWriter(path, engine="xlsxwriter") as xl:
        number_formats = {f: xl.book.add_format({"num_format": f}) for f in ("#,##0", "0.0%")}
        for frame, name, formats in sheets:
            frame.to_excel(xl, sheet_name=name, index=False)
            for i, number_format in enumerate(formats):
                if number_format:
                    xl.sheets[name].set_column(i, i, 14, number_formats[number_format])
    return path


def write_report(review: QuarterlyReview, path: str | Path, lang: str = "en") -> Path:
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return write_xlsx(review, path, lang)
    path.write_text(render_html(review, lang), encoding="utf-8")
    return path
