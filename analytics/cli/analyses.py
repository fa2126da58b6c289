"""The analysis commands of the CLI: funnel, winrates, velocity, flow, tiers, claim, waterfall, slippage, and the
registration of every analysis command (those of analytics.cli.forecasting too). Each takes the same filters."""

from __future__ import annotations

from analytics import formatting
from analytics.cli.common import (
    add_filter_options,
    add_wait,
    at_least,
    ci_cell,
    filters_from_args,
    iso_date,
    pct_cell,
    positive_number,
    probability,
    quarter_arg,
    run_analysis,
)
from analytics.cli.forecasting import (
    cmd_backtest,
    cmd_deals,
    cmd_forecast,
    cmd_model,
    cmd_refresh,
    cmd_report,
)


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

    return run_analysis(args, lambda st: compute_funnel(st, filters_from_args(args), args.as_of),
                        render, rebuild_as_of=True)


def cmd_winrates(args) -> int:
    from analytics.analyses.funnel import compute_funnel, win_rates_by_stage

    class Result:
        def __init__(self, rows, funnel):
            self.rows, self.funnel = rows, funnel

        def to_json(self):
            from dataclasses import asdict

            return {"stages": [asdict(r) for r in self.rows], "filters": self.funnel.filters.to_json(),
                    "as_of": self.funnel.as_of}

        def to_frame(self):
            from analytics.tables import records_frame

            return records_frame(self.rows, ("stage", "won_after", "closed_after", "open_after", "win_rate",
                                             "salesforce_default", "hubspot_default"), ("win_rate_ci",))

    def compute(store):
        funnel = compute_funnel(store, filters_from_args(args), args.as_of)
        return Result(win_rates_by_stage(funnel), funnel)

    def render(r):
        print(f"{'stage':>5} {'P(win)':>7} {'95% CI':>17} {'Salesforce':>10} {'HubSpot':>8}  "
              "reached it: won / closed, open")
        for w in r.rows:
            print(f"{w.stage:>5} {pct_cell(w.win_rate):>7} {ci_cell(w.win_rate_ci):>17} "
                  f"{formatting.percent(w.salesforce_default):>10} {formatting.percent(w.hubspot_default):>8}  "
                  f"{w.won_after:,} / {w.closed_after:,}, {w.open_after:,} open")
        print("P(win) is product-limit: open deals count until they close, so it is not won / closed")

    return run_analysis(args, compute, render, rebuild_as_of=True)


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

    return run_analysis(args, lambda st: compute_velocity(st, filters_from_args(args), args.as_of),
                        render, rebuild_as_of=True)


def cmd_flow(args) -> int:
    from analytics.analyses.conformance import compute_conformance

    def render(c):
        for k in ("in_order", "skipped", "moved_backwards", "reentered", "left_truncated"):
            print(f"{k:<16} {getattr(c, k):>8,} {pct_cell(c.share(getattr(c, k)))}")
        print(f"win rate in order {pct_cell(c.conforming.win_rate)} {ci_cell(c.conforming.ci)}; "
              f"not in order {pct_cell(c.non_conforming.win_rate)} {ci_cell(c.non_conforming.ci)}")

    return run_analysis(args, lambda st: compute_conformance(st, filters_from_args(args), args.as_of),
                        render, rebuild_as_of=True)


def cmd_tiers(args) -> int:
    from analytics.analyses.tiers import compute_tiers

    def render(t):
        for p in t.performance:
            cycle = "–" if p.median_cycle_days is None else f"{p.median_cycle_days:.0f} days"
            print(f"tier {p.tier}: win rate {pct_cell(p.win_rate)} {ci_cell(p.win_rate_ci)} of {p.resolved:,}, "
                  f"median cycle {cycle}")
        print(f"{t.mismatches_total:,} of {t.open_deals_graded:,} open deals are graded differently from the rule")

    return run_analysis(args, lambda st: compute_tiers(st, filters_from_args(args), as_of=args.as_of),
                        render, rebuild_as_of=True)


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

    return run_analysis(args, lambda st: test_claim(st, filters_from_args(args), stage=args.stage,
                                            threshold=args.threshold, min_resolved=args.min_resolved), render,
                rebuild_as_of=True)


def cmd_waterfall(args) -> int:
    from datetime import timedelta

    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.waterfall import BUCKETS, compute_waterfall

    def compute(store):
        to = args.to or data_as_of(store) + timedelta(days=1)  # through the data's last day
        return compute_waterfall(store, args.from_date, to, args.quarter, filters_from_args(args))

    def render(w):
        scope = f"expected to close in {w.quarter}" if w.quarter else "open"
        print(f"pipeline {scope} on {w.from_date}: {w.start_deals:,} deals, {formatting.money(w.start_amount)}")
        for name in BUCKETS:
            b = w.bucket(name)
            sign = {"created": "+", "pulled_in": "+", "reopened": "+", "amount_up": "+"}.get(name, "−")
            sign = " " if name in ("advanced", "regressed") else sign
            print(f"  {sign} {name:<12} {b.deals:>8,} deals {formatting.money(b.amount):>18}")
        print(f"pipeline {scope} on {w.to_date}: {w.end_deals:,} deals, {formatting.money(w.end_amount)}")

    return run_analysis(args, compute, render)


def cmd_slippage(args) -> int:
    from analytics.analyses.slippage import PUSHES_AT_RISK, compute_slippage

    def render(sl):
        for share in (sl.late_won, sl.late_lost):
            print(f"{share.group} deals closed after their first expected close: {share.k:,} of {share.n:,} = "
                  f"{pct_cell(share.share)} {ci_cell(share.ci)}")
        print(f"mean days late (of those): {formatting.days(sl.mean_days_late)}")
        print("win rate by times the close was pushed: " + "; ".join(
            f"{s.group}: {pct_cell(s.share).strip()} of {s.n:,}" for s in sl.win_rate_by_pushes))
        print(f"open deals pushed {PUSHES_AT_RISK} times or more: {len(sl.at_risk):,}")
        for d in sl.at_risk[:20]:
            print(f"  {d.deal_id} ({d.owner}) stage {d.furthest_stage}: {d.push_count} pushes, {d.days_pushed} days")

    return run_analysis(args, lambda st: compute_slippage(st, filters_from_args(args)), render)


def cmd_trends(args) -> int:
    from analytics.analyses.trends import compute_trends

    def render(tr):
        print(f"{'period':<8} {'deals':>7} {'win rate':>9} {'95% CI':>17} {'preferred supplier':>18} "
              f"{'cycle days':>10} {'created':>8}")
        for p in tr.periods:
            print(f"{p.period:<8} {p.deals:>7,} {pct_cell(p.win_rate):>9} {ci_cell(p.win_rate_ci):>17} "
                  f"{pct_cell(p.preferred_supplier):>18} {formatting.days(p.median_cycle_days):>10} "
                  f"{p.created_deals:>8,}")
        t = tr.trend
        print(f"trend in the win rate ({t.test}, {t.periods} periods): "
              + (t.note if t.p_value is None else f"z = {t.z:.2f}, p = {t.p_value:.3g}"))

    return run_analysis(args, lambda st: compute_trends(st, args.by, args.cohort_by, filters_from_args(args)), render)


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
            p.add_argument("--weekly", action="store_true",
                           help="also the forecast as it stood at the start of each week of the quarter so far")
        if name == "backtest":
            p.add_argument("--quarters", type=at_least(1), default=8)
        if name == "deals":
            p.add_argument("--top", type=at_least(1), default=30, help="rows shown without --json")
        p.set_defaults(func=func)
    p = sub.add_parser("slippage", help="close dates that moved later: who slips, and whether slipping predicts losing")
    add_filter_options(p)
    p.set_defaults(func=cmd_slippage)
    p = sub.add_parser("trends", help="the win rate, conversions and cycle time period by period, and their trend")
    add_filter_options(p)
    p.add_argument("--by", choices=("quarter", "month"), default="quarter")
    # not --cohort: the filters' --cohort 2025Q3 already means the deals created in that quarter
    p.add_argument("--cohort-by", dest="cohort_by", choices=("created", "closed"), default="created",
                   help="group deals by when they were created (default) or closed")
    p.set_defaults(func=cmd_trends)
    p = sub.add_parser("waterfall", help="the open pipeline on two dates and what moved between them")
    add_filter_options(p)
    p.add_argument("--from", dest="from_date", type=iso_date, required=True, metavar="DATE",
                   help="the earlier date (the pipeline as it stood at its start)")
    p.add_argument("--to", type=iso_date, metavar="DATE", help="the later date (default: the day after the data's "
                                                                 "as-of date)")
    p.add_argument("--quarter", type=quarter_arg, metavar="QUARTER",
                   help="only deals expected to close in this quarter, e.g. 2026Q4 (the forecast's scope)")
    p.set_defaults(func=cmd_waterfall)
    p = sub.add_parser("refresh", help="fit the win model and compute the forecast, backtest and deal scores for "
                                       "the current data, so that pages and commands read them at once")
    add_wait(p)
    p.set_defaults(func=cmd_refresh)
