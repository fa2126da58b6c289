"""The analysis commands of the CLI: funnel, winrates, velocity, flow, tiers, claim. Each takes the same filters."""

from __future__ import annotations

from pathlib import Path

from analytics import formatting
from analytics.cli.common import (
    add_filter_options,
    at_least,
    ci_cell,
    filters_from_args,
    pct_cell,
    positive_number,
    probability,
    quarter_arg,
)
from analytics.exceptions import KeyfunnelError


def cmd_refresh(args) -> int:
    from analytics.cli.common import open_store
    from analytics.refresh import refresh_results

    with open_store(args) as store:
        refresh_results(store)
    print("win model, forecast, backtest and open-deal scores computed for the current data")
    return 0


def _run(args, compute, render, *, rebuild_as_of: bool = False) -> int:
    """Open the store read-only, compute(store), then print JSON or the human rendering. `rebuild_as_of`: with
    --as-of, compute on the data as it stood at the end of that day (Store.as_of), for the analyses that read
    deal_facts as it is now; the model, forecast and backtest rebuild their own as-of state."""
    from datetime import timedelta

    from analytics.cli.common import open_store, print_json

    with open_store(args, read_only=True) as store:
        if rebuild_as_of and getattr(args, "as_of", None) is not None:
            with store.as_of(args.as_of + timedelta(days=1)):
                result = compute(store)
        else:
            result = compute(store)
    if args.json:
        print_json(result.to_json())
    else:
        render(result)
    return 0


def cmd_funnel(args) -> int:
    from analytics.analyses.funnel import compute_funnel
    from analytics.domain import stage
    from analytics.i18n.text import amount_coverage

    def render(f):
        labels = [f"{s.stage} {stage(s.stage).name_en}" for s in f.stages]
        width = max(len(label) for label in labels)  # the longest stage name sets the column
        print(f"{formatting.count(f.deals)} deals, as of {f.as_of}")
        coverage = amount_coverage(f)
        if coverage:
            print(coverage)
        print(f"{'stage':<{width}} {'reached':>8} {'open':>6} {'lost':>6} {'conversion':>10} {'95% CI':>17} "
              f"{'P(win)':>7}")
        # no deal recorded entering them, or (current stage only) no conversion that is evidence: nothing to show
        unobserved = (f.estimability.unobserved_stages if f.estimability.estimable
                      else tuple(s.stage for s in f.stages))
        for label, s in zip(labels, f.stages):
            seen = s.stage not in unobserved
            print(f"{label:<{width}} {s.reached:>8,} {s.open_here:>6,} {s.lost_here:>6,} "
                  f"{pct_cell(s.conversion if seen else None):>10} {ci_cell(s.conversion_ci if seen else None):>17} "
                  f"{pct_cell(s.win_rate):>7}")
        if f.estimability.unobserved_stages:
            print(f"stages {', '.join(map(str, f.estimability.unobserved_stages))}: no deal was recorded entering "
                  f"them (not observed)")
        if not f.estimability.estimable:
            print(f"warning: {f.estimability.reason}")

    return _run(args, lambda st: compute_funnel(st, filters_from_args(args), args.as_of), render, rebuild_as_of=True)


def cmd_winrates(args) -> int:
    from analytics.analyses.funnel import compute_funnel, win_rates_by_stage

    class Result:
        def __init__(self, rows, funnel):
            self.rows, self.funnel = rows, funnel

        def to_json(self):
            from dataclasses import asdict

            return {"stages": [asdict(r) for r in self.rows], "filters": self.funnel.filters.to_json(),
                    "as_of": self.funnel.as_of}

    def compute(store):
        funnel = compute_funnel(store, filters_from_args(args), args.as_of)
        return Result(win_rates_by_stage(funnel), funnel)

    def render(r):
        print(f"{'stage':>5} {'P(win)':>7} {'95% CI':>17} {'Salesforce':>10} {'HubSpot':>8}  reached it: won / closed, open")
        for w in r.rows:
            print(f"{w.stage:>5} {pct_cell(w.win_rate):>7} {ci_cell(w.win_rate_ci):>17} {formatting.percent(w.salesforce_default):>10} "
                  f"{formatting.percent(w.hubspot_default):>8}  {w.won_after:,} / {w.closed_after:,}, {w.open_after:,} open")
        print("P(win) is product-limit: open deals count until they close, so it is not won / closed")

    return _run(args, compute, render, rebuild_as_of=True)


def cmd_velocity(args) -> int:
    from analytics.analyses.velocity import compute_velocity

    def render(v):
        print("days in stage: median (p25–p75, p90)        won | lost")
        for s in v.stages:
            w, lo = s.won, s.lost
            fmt = lambda d: "–" if d.median is None else f"{d.median:5.1f} ({d.p25:.0f}–{d.p75:.0f}, {d.p90:.0f})"
            print(f"  stage {s.stage}: {fmt(w):>28} | {fmt(lo)}")
        if v.closed_before_created:
            print(f"{v.closed_before_created:,} closed deals close before they were created: left out of cycle time")
        print(f"stalled open deals: {len(v.stalled):,}")
        for d in v.stalled[:20]:
            print(f"  {d.deal_id} {d.account} ({d.owner}) stage {d.stage}: {d.days_in_stage:.0f} days "
                  f"> {d.threshold_days:.0f}, amount {'–' if d.amount is None else f'{d.amount:,.0f}'}")

    return _run(args, lambda st: compute_velocity(st, filters_from_args(args), args.as_of), render, rebuild_as_of=True)


def cmd_flow(args) -> int:
    from analytics.analyses.conformance import compute_conformance

    def render(c):
        for k in ("in_order", "skipped", "moved_backwards", "reentered", "left_truncated"):
            print(f"{k:<16} {getattr(c, k):>8,} {pct_cell(c.share(getattr(c, k)))}")
        print(f"win rate in order {pct_cell(c.conforming.win_rate)} {ci_cell(c.conforming.ci)}; "
              f"not in order {pct_cell(c.non_conforming.win_rate)} {ci_cell(c.non_conforming.ci)}")

    return _run(args, lambda st: compute_conformance(st, filters_from_args(args), args.as_of), render, rebuild_as_of=True)


def cmd_tiers(args) -> int:
    from analytics.analyses.tiers import compute_tiers

    def render(t):
        for p in t.performance:
            cycle = "–" if p.median_cycle_days is None else f"{p.median_cycle_days:.0f} days"
            print(f"tier {p.tier}: win rate {pct_cell(p.win_rate)} {ci_cell(p.win_rate_ci)} of {p.resolved:,}, "
                  f"median cycle {cycle}")
        print(f"{t.mismatches_total:,} of {t.open_deals_graded:,} open deals are graded differently from the rule")

    return _run(args, lambda st: compute_tiers(st, filters_from_args(args), as_of=args.as_of), render, rebuild_as_of=True)


def cmd_claim(args) -> int:
    from analytics.analyses.claim import test_claim

    def render(c):
        o = c.overall
        print(f"Once preferred supplier (entered stage {o.stage}), deals are won more than {o.threshold:.0%} "
              f"of the time: {o.verdict.replace('_', ' ').upper()}")
        if not c.estimable:
            print(f"  {c.not_estimable_reason}")
        print(f"  {o.won:,} won of {o.resolved:,} resolved = {pct_cell(o.p_hat)} {ci_cell(o.ci)}; "
              f"{o.open_excluded:,} open deals left out; one-sided p = "
              + ("–" if o.p_value is None else f"{o.p_value:.3g}"))
        for s in c.segments:
            print(f"  {s.dimension}={s.value}: {s.test.won:,}/{s.test.resolved:,} {pct_cell(s.test.p_hat)} "
                  f"{ci_cell(s.test.ci)} {s.test.verdict}")

    return _run(args, lambda st: test_claim(st, filters_from_args(args), stage=args.stage,
                                            threshold=args.threshold, min_resolved=args.min_resolved), render,
                rebuild_as_of=True)


def cmd_model(args) -> int:
    from analytics.forecasting.validation import evaluate
    from analytics.store.cache import persisted  # read when `keyfunnel refresh` or the app computed it

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
        print(f"pooled over {r.pooled_n_test:,} test deals: ECE {f(r.pooled_ece)}; Spiegelhalter z {f(r.pooled_calibration_z, 2)}"
              f" (p {f(r.pooled_calibration_p)}: below 0.05, the probabilities are not calibrated)")
        print("factor scorecard (odds ratio per score point, 95% interval, p adjusted for the nine factors, Holm):")
        for fe in r.factors:
            ci = "–" if fe.ci is None else f"[{fe.ci[0]:.2f}, {fe.ci[1]:.2f}]"
            print(f"  {fe.factor:<14} {f(fe.odds_ratio, 2):>6} {ci:<14} p_adj {f(fe.p_adjusted, 3)}")

    return _run(args, lambda st: persisted(st, evaluate, filters_from_args(args), as_of=args.as_of), render)


def cmd_forecast(args) -> int:
    from analytics.forecasting.forecast import forecast_quarter
    from analytics.store.cache import persisted  # read when `keyfunnel refresh` or the app computed it

    def render(f):
        print(f"{f.quarter} as of {f.as_of} ({f.mode} mode): expected {f.expected:,.0f}; P10 {f.p10:,.0f}, "
              f"P50 {f.p50:,.0f}, P90 {f.p90:,.0f}; won to date {f.won_to_date:,.0f}")
        for b in f.by_category:
            print(f"  {b.key:<10} {b.expected:>16,.0f}")
        if f.target is not None:
            cov = "–" if f.coverage is None else f"{f.coverage:.2f}×"
            print(f"  target {f.target:,.0f}: coverage {cov}, P(reach) {formatting.percent(f.p_reach_target)}")

    return _run(args, lambda st: persisted(st, forecast_quarter, args.quarter, args.as_of, target=args.target,
                                           draws=args.draws, seed=args.seed, filters=filters_from_args(args)),
                render)


def cmd_backtest(args) -> int:
    from analytics.forecasting.forecast import backtest
    from analytics.store.cache import persisted  # read when `keyfunnel refresh` or the app computed it

    def render(b):
        for q in b.quarters:
            print(f"{q.quarter}: forecast {q.forecast:>14,.0f} [{q.p10:,.0f} – {q.p90:,.0f}]  actual "
                  f"{q.actual:>14,.0f}  {'inside' if q.inside else 'OUTSIDE'}  CRM default {q.crm_default:,.0f}")
        s, c = b.summary, b.baseline_crm_default
        fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"model: MAPE {fmt(s.mape)}, MASE {fmt(s.mase)}, bias {fmt(s.bias)}, P10–P90 coverage {fmt(s.coverage)}")
        print(f"CRM default weighted pipeline: MAPE {fmt(c.mape)}, MASE {fmt(c.mase)}, bias {fmt(c.bias)}")

    return _run(args, lambda st: persisted(st, backtest, args.quarters, args.as_of,
                                           filters=filters_from_args(args)), render)


_DEAL_FORMATS = {"amount": "{:,.0f}", "expected_value": "{:,.0f}", "p_win": "{:.1%}", "days_in_stage": "{:.0f}",
                 "predicted_close": "{}", "name": "{}", "account": "{}", "owner": "{}", "tier": "{}"}


def _as_text(deals):
    """The columns of _DEAL_FORMATS as text; a missing value is a dash (pandas would print None or NaN)."""
    return deals.assign(**{c: [("–" if x is None or x != x else form.format(x)) for x in deals[c]]
                           for c, form in _DEAL_FORMATS.items() if c in deals})


def cmd_deals(args) -> int:
    from analytics.cli.common import open_store, print_json
    from analytics.forecasting.scoring import score_open_deals
    from analytics.store.cache import persisted  # read when `keyfunnel refresh` or the app computed it

    with open_store(args, read_only=True) as store:
        deals = persisted(store, score_open_deals, args.as_of, filters=filters_from_args(args))
    columns = ["deal_id", "name", "account", "owner", "tier", "stage", "amount", "p_win", "expected_value",
               "predicted_close", "recommended_tier", "days_in_stage", "mode"]
    deals = deals[columns] if len(deals) else deals
    if args.json:
        print_json({"deals": deals.to_dict("records")})
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
        raise KeyfunnelError(f"{args.out}: the report is written as .html or .xlsx")
    from dataclasses import replace

    from analytics.forecasting.forecast import backtest
    from analytics.store.cache import persisted

    with open_store(args, read_only=True) as store:
        review = quarterly_review(store, args.quarter, args.as_of, target=args.target,
                                  filters=filters_from_args(args))
        # the backtest the Forecast page and `keyfunnel backtest` read: the review says when it refutes the range
        review = replace(review, backtest=persisted(store, backtest, 8, args.as_of, filters=filters_from_args(args)))
    path = write_report(review, args.out, args.lang)
    if args.json:
        from analytics.cli.common import print_json

        print_json({"path": str(path), "quarter": review.quarter, "as_of": review.as_of})
    else:
        print(f"wrote {path}: the {review.quarter} review as of {review.as_of}")
    return 0


def add_analysis_commands(sub) -> None:
    for name, func, help_ in (
            ("funnel", cmd_funnel, "the eight-stage funnel with censoring-aware conversions"),
            ("winrates", cmd_winrates, "P(win | reached stage) beside CRM default probabilities"),
            ("velocity", cmd_velocity, "days in stage, cycle time, stalled open deals"),
            ("flow", cmd_flow, "process conformance and stage transitions"),
            ("tiers", cmd_tiers, "tier mix and deals graded differently from the rule"),
            ("claim", cmd_claim, "test the preferred-supplier claim")):
        p = sub.add_parser(name, help=help_)
        add_filter_options(p)
        if name == "claim":
            p.add_argument("--stage", type=int, default=7, choices=range(2, 9), metavar="STAGE")
            p.add_argument("--threshold", type=probability, default=0.75)
            p.add_argument("--min-resolved", type=at_least(1), default=20)
        p.set_defaults(func=func)
    for name, func, help_ in (
            ("model", cmd_model, "validate the per-stage win model against baselines; the factor scorecard"),
            ("forecast", cmd_forecast, "this quarter's bookings forecast with P10/P50/P90"),
            ("backtest", cmd_backtest, "forecast past quarters from what was known then, against actuals"),
            ("deals", cmd_deals, "open deals with P(win), expected value, predicted close, recommended tier"),
            ("report", cmd_report, "the quarterly review as a self-contained HTML file or an Excel workbook")):
        p = sub.add_parser(name, help=help_)
        add_filter_options(p)  # as on the app's pages: the sidebar's filters, --as-of and --json
        if name == "report":
            p.add_argument("--quarter", type=quarter_arg, metavar="QUARTER", help="e.g. 2026Q4 (default: the current)")
            p.add_argument("--out", required=True, metavar="FILE", help="FILE.html or FILE.xlsx")
            p.add_argument("--target", type=positive_number)
            p.add_argument("--lang", choices=("en", "zh"), default="en")
        if name == "forecast":
            p.add_argument("--quarter", type=quarter_arg, metavar="QUARTER", help="e.g. 2026Q4 (default: the current)")
            p.add_argument("--target", type=positive_number, help="the quarter's bookings target, for coverage")
            p.add_argument("--draws", type=at_least(1), default=10_000, help="simulation draws (default 10,000)")
            p.add_argument("--seed", type=int, default=0)
        if name == "backtest":
            p.add_argument("--quarters", type=at_least(1), default=8)
        if name == "deals":
            p.add_argument("--top", type=at_least(1), default=30, help="rows shown without --json")
        p.set_defaults(func=func)
    p = sub.add_parser("refresh", help="fit the win model and compute the forecast, backtest and deal scores for "
                                       "the current data, so that pages and commands read them at once")
    p.set_defaults(func=cmd_refresh)
