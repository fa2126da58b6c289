"""The forecasting commands: refresh, model, forecast, backtest, deals and report."""

from __future__ import annotations

from pathlib import Path

from analytics import formatting
from analytics.cli.common import filters_from_args, run_analysis
from analytics.exceptions import KeyfunnelError


def cmd_refresh(args) -> int:
    import sys
    import time

    from analytics.cli.common import open_store
    from analytics.refresh import refresh_results
    from analytics.store.cache import finish_refresh

    def progress(done: int, total: int, step) -> None:  # on stderr: stdout keeps the one line a script reads
        print(f"[{done}/{total}] {step.name}: {step.seconds:.1f} s", file=sys.stderr, flush=True)

    start = time.perf_counter()
    with open_store(args, read_only=True) as store:  # results are kept beside the database, not in it
        steps = refresh_results(store, progress)
        finish_refresh(store)
    if not steps:
        print("no deals yet: nothing to compute")
        return 0
    print(f"{len(steps)} results the pages show by default computed for the current data in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def cmd_model(args) -> int:
    from analytics.forecasting.validation import evaluate
    from analytics.store.cache import (
        persisted,  # read when `keyfunnel refresh` or the app computed it
    )

    def render(r):
        cutoff = "–" if r.cutoff is None else f"{r.cutoff:%Y-%m-%d}"  # None: nothing resolved yet
        print(f"validation: trained on deals closed before {cutoff}, tested on the pipeline open then; "
              f"mode {r.mode}" + (f" ({r.note})" if r.note else ""))
        ci = r.pooled_brier_gain_ci
        print({"better": "the model predicts better than the stage win rates",
               "no_better": "the model does NOT predict better than the stage win rates: use the stage rates",
               "untested": "too few held-out deals to tell whether the model beats the stage win rates"}[r.verdict]
              + (f" (Brier gain {r.pooled_brier_gain:.4f}, 95% [{ci[0]:.4f}, {ci[1]:.4f}], {r.pooled_n_test:,} "
                 f"test deals)" if ci else f" ({r.pooled_n_test:,} test deals)"))
        print(f"{'stage':>5} {'train':>7} {'test':>6} {'AUC':>6} {'Brier':>7} {'ECE':>6} {'rate Brier':>10} "
              f"{'CRM Brier':>10} {'calib. p':>9}")
        f = lambda x, d=3: "–" if x is None else f"{x:.{d}f}"  # noqa: E731
        for st in r.stages:
            print(f"{st.stage:>5} {st.n_train:>7,} {st.n_test:>6,} {f(st.auc):>6} {f(st.brier, 4):>7} {f(st.ece):>6} "
                  f"{f(st.baseline_stage_rate.brier, 4):>10} {f(st.baseline_crm_default.brier, 4):>10} "
                  f"{f(st.calibration_p):>9}")
        p = r.pooled_calibration_p  # a verdict, not the rule: "p 0.427: below 0.05, …" read as a rejection
        verdict = ("untested" if p is None else "below 0.05: the probabilities are not calibrated" if p < 0.05
                   else "calibration not rejected at 0.05")
        print(f"pooled over {r.pooled_n_test:,} test deals: ECE {f(r.pooled_ece)}; "
              f"Spiegelhalter z {f(r.pooled_calibration_z, 2)} (p {f(p)}: {verdict})")
        print("factor scorecard (odds ratio per score point, 95% interval, p adjusted for the nine factors, Holm):")
        for fe in r.factors:
            ci = "–" if fe.ci is None else f"[{fe.ci[0]:.2f}, {fe.ci[1]:.2f}]"
            print(f"  {fe.factor:<14} {f(fe.odds_ratio, 2):>6} {ci:<14} p_adj {f(fe.p_adjusted, 3)}")

    return run_analysis(args, lambda st: persisted(st, evaluate, filters_from_args(args), as_of=args.as_of), render)


def cmd_forecast(args) -> int:
    from dataclasses import asdict, fields

    from analytics.forecasting.forecast import forecast_quarter
    from analytics.forecasting.path import forecast_path
    from analytics.store.cache import (
        persisted,  # read when `keyfunnel refresh` or the app computed it
    )

    class WithPath:  # the forecast and, with --weekly, its path through the quarter
        def __init__(self, forecast, weekly):
            self.forecast, self.weekly = forecast, weekly

        def to_json(self):
            out = self.forecast.to_json()
            return out if self.weekly is None else {**out, "weekly": [asdict(w) for w in self.weekly]}

        def to_frame(self):  # with --weekly, the path week by week; else the quarter by category
            if self.weekly is None:
                return self.forecast.to_frame()
            from analytics.tables import records_frame

            return records_frame(self.weekly, [f.name for f in fields(self.weekly[0])] if self.weekly else ["week"])

    def compute(store):
        f = persisted(store, forecast_quarter, args.quarter, args.as_of, target=args.target, draws=args.draws,
                      seed=args.seed, filters=filters_from_args(args))
        weekly = forecast_path(store, f.quarter, f.as_of, filters=filters_from_args(args)) if args.weekly else None
        return WithPath(f, weekly)

    def render(r):
        f = r.forecast
        print(f"{f.quarter} as of {f.as_of} ({f.mode} mode): expected {f.expected:,.0f}; P10 {f.p10:,.0f}, "
              f"P50 {f.p50:,.0f}, P90 {f.p90:,.0f}; won to date {f.won_to_date:,.0f}")
        for b in f.by_category:
            print(f"  {b.key:<10} {b.expected:>16,.0f}")
        if f.target is not None:
            cov = "–" if f.coverage is None else f"{f.coverage:.2f}×"
            print(f"  target {f.target:,.0f}: coverage {cov}, P(reach) {formatting.percent(f.p_reach_target)}")
        for w in r.weekly or ():
            print(f"  week {w.week:>2} ({w.starts}): P10 {w.p10:,.0f}, P50 {w.p50:,.0f}, P90 {w.p90:,.0f}; "
                  f"won {w.won_to_date:,.0f}")

    return run_analysis(args, compute, render)

def cmd_backtest(args) -> int:
    from analytics.forecasting.backtest import backtest
    from analytics.store.cache import (
        persisted,  # read when `keyfunnel refresh` or the app computed it
    )

    def render(b):
        for q in b.quarters:
            print(f"{q.quarter}: forecast {q.forecast:>14,.0f} [{q.p10:,.0f} – {q.p90:,.0f}]  actual "
                  f"{q.actual:>14,.0f}  {'inside' if q.inside else 'OUTSIDE'}  CRM default {q.crm_default:,.0f}")
        s, c = b.summary, b.baseline_crm_default
        fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"model: MAPE {fmt(s.mape)}, MASE {fmt(s.mase)}, bias {fmt(s.bias)}, P10–P90 coverage {fmt(s.coverage)}")
        print(f"CRM default weighted pipeline: MAPE {fmt(c.mape)}, MASE {fmt(c.mase)}, bias {fmt(c.bias)}")
        for w in b.by_week:
            print(f"week {w.week:>2}: MAPE {fmt(w.mape)}, P10–P90 coverage {fmt(w.coverage)} ({w.quarters} quarters)")

    return run_analysis(args, lambda st: persisted(st, backtest, args.quarters, args.as_of,
                                           filters=filters_from_args(args)), render)


_DEAL_FORMATS = {"amount": "{:,.0f}", "expected_value": "{:,.0f}", "p_win": "{:.1%}", "days_in_stage": "{:.0f}",
                 "predicted_close": "{}", "first_expected_close": "{}", "name": "{}", "account": "{}", "owner": "{}",
                 "tier": "{}"}


def _as_text(deals):
    """The columns of _DEAL_FORMATS as text; a missing value is a dash (pandas would print None or NaN)."""
    return deals.assign(**{c: [("–" if x is None or x != x else form.format(x)) for x in deals[c]]
                           for c, form in _DEAL_FORMATS.items() if c in deals})


def cmd_deals(args) -> int:
    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.slippage import open_deal_pushes, with_slippage
    from analytics.cli.common import open_store, print_json
    from analytics.forecasting.scoring import score_open_deals
    from analytics.store.cache import (
        persisted,  # read when `keyfunnel refresh` or the app computed it
    )

    with open_store(args, read_only=True) as store:
        as_of = args.as_of or data_as_of(store)  # an explicit date: the key analytics.refresh keeps it under
        deals = with_slippage(persisted(store, score_open_deals, as_of, filters=filters_from_args(args)),
                              open_deal_pushes(store, filters_from_args(args)))
    columns = ["deal_id", "name", "account", "owner", "tier", "stage", "amount", "p_win", "expected_value",
               "predicted_close", "recommended_tier", "days_in_stage", "mode", "push_count", "days_pushed",
               "first_expected_close"]
    deals = deals[columns] if len(deals) else deals
    if args.json:
        print_json({"deals": deals.to_dict("records")})
        return 0
    if args.csv:  # every open deal, not the --top shown as text
        import sys

        from analytics.present.export import neutralise_frame

        neutralise_frame(deals).to_csv(sys.stdout, index=False)
        return 0
    if len(deals) and deals["name"].isna().all():  # an export without deal names: no column of dashes
        deals = deals.drop(columns="name")
    import pandas as pd

    with pd.option_context("display.unicode.east_asian_width", True):  # 华东电力 is 8 columns wide, not 4
        print(_as_text(deals.head(args.top)).to_string(index=False) if len(deals) else "no open deals")
    return 0


def cmd_report(args) -> int:
    from analytics.cli.common import open_store
    from analytics.forecasting.review import quarterly_review
    from analytics.present.report import write_report

    if Path(args.out).suffix.lower() not in (".html", ".htm", ".xlsx"):
        raise KeyfunnelError("the report is written as .html or .xlsx", args.out)
    from dataclasses import replace

    from analytics.analyses.trends import compute_trends
    from analytics.forecasting.backtest import backtest
    from analytics.forecasting.path import forecast_path
    from analytics.store.cache import persisted

    with open_store(args, read_only=True) as store:
        review = quarterly_review(store, args.quarter, args.as_of, target=args.target,
                                  filters=filters_from_args(args))
        # the backtest the Forecast page and `keyfunnel backtest` read: the review says when it refutes the range
        # and the forecast week by week and the funnel by quarter, as the Forecast and Funnel pages show them
        review = replace(review, backtest=persisted(store, backtest, 8, args.as_of, filters=filters_from_args(args)),
                         path=persisted(store, forecast_path, review.quarter, args.as_of,
                                        filters=filters_from_args(args)),
                         trends=compute_trends(store, "quarter", "created", filters_from_args(args)))
    path = write_report(review, args.out, args.lang)
    if args.json:
        from analytics.cli.common import print_json

        print_json({"path": str(path), "quarter": review.quarter, "as_of": review.as_of})
    else:
        print(f"wrote {path}: the {review.quarter} review as of {review.as_of}")
    return 0
