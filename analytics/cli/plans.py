"""The plans commands: targets (import and list), attainment, call add, calls (list, and their accuracy)."""

from __future__ import annotations

import getpass

from analytics import formatting
from analytics.cli.common import (
    add_wait,
    iso_date,
    open_store,
    pct_cell,
    print_json,
    quarter_arg,
    run_analysis,
)


def cmd_targets(args) -> int:
    if args.action == "import":
        from analytics.cli.data import show_import_result
        from analytics.ingest.plans import import_plans

        with open_store(args) as store:
            return show_import_result(import_plans(store, args.files, sheet=args.sheet), args.json)
    from analytics.store.plans import active_targets, teams

    with open_store(args, read_only=True) as store:
        targets, members = active_targets(store, args.period), teams(store)
    if args.json:
        print_json({"targets": [t.to_json() for t in targets],
                    "teams": [{"owner": o, "team": t, "manager": m} for o, (t, m) in members.items()]})
        return 0
    if not targets:
        print("no targets" + (f" for {args.period}" if args.period else "") + ": import them with "
              "`keyfunnel targets import FILE`")
    for t in targets:
        team = f"  ({members[t.unit][0]})" if t.unit_kind == "owner" and t.unit in members else ""
        print(f"{t.period:<8}  {t.unit_kind:<6}  {t.unit:<24}  {formatting.money(t.target):>16}{team}")
    return 0


def _money(x) -> str:
    return "–" if x is None else formatting.money_short(x)


def cmd_attainment(args) -> int:
    from analytics.forecasting.attainment import attainment

    def render(result) -> None:
        print(f"{result.quarter} attainment by {result.by}, as of {result.as_of} "
              f"(coverage = {result.coverage_formula})")
        print(f"{'unit':<22} {'target':>9} {'won':>9} {'attain':>6} {'pipeline':>9} {'cover':>6} "
              f"{'P10':>9} {'P50':>9} {'P90':>9} {'P(reach)':>8}")
        for r in result.rows:
            name = ("  " if r.kind == "owner" and result.by == "owner" else "") + r.unit
            cover = "   –  " if r.coverage is None else f"{r.coverage:>5.1f}×"
            print(f"{name:<22} {_money(r.target):>9} {_money(r.won):>9} {pct_cell(r.attainment)} "
                  f"{_money(r.open_pipeline):>9} {cover} {_money(r.p10):>9} {_money(r.p50):>9} {_money(r.p90):>9} "
                  f"{pct_cell(r.p_reach_target):>8}")

    return run_analysis(args, lambda store: attainment(store, args.quarter, args.as_of, by=args.by), render)


def cmd_call_add(args) -> int:
    from analytics.ingest.plans import add_call

    unit_kind, unit = ("team", args.team) if args.team else ("owner", args.owner)
    with open_store(args) as store:
        call_id = add_call(store, args.quarter, unit_kind, unit, args.commit, args.best_case, note=args.note,
                           entered_by=args.by or getpass.getuser(), called_at=args.at)
    print(f"call {call_id} recorded: {args.quarter} {unit_kind} {unit}, commit {formatting.money(args.commit)}, "
          f"best case {formatting.money(args.best_case)}")
    return 0


def cmd_calls(args) -> int:
    if args.action == "accuracy":
        from analytics.forecasting.calls import call_accuracy

        def render(result) -> None:
            print("Forecast calls against the actual, beside keyfunnel's P50 on the same days "
                  "(accuracy = max(0, 1 − |actual − forecast| / actual))")
            print(f"{'unit':<14} {'quarters':>8} {'call acc':>8} {'model acc':>9} {'bias':>7}  {'verdict':<10} "
                  f"{'in range':>8}")
            for r in result.by_unit:
                bias = "   –   " if r.call_bias is None else f"{r.call_bias:>+7.1%}"
                print(f"{r.unit:<14} {r.quarters:>8} {pct_cell(r.call_accuracy):>8} {pct_cell(r.model_accuracy):>9} "
                      f"{bias}  {r.bias_verdict:<10} {pct_cell(r.in_range_share):>8}")

        return run_analysis(args, lambda store: call_accuracy(store, args.as_of), render)
    from analytics.store.plans import forecast_calls

    with open_store(args, read_only=True) as store:
        calls = forecast_calls(store, args.quarter)
    if args.json:
        print_json({"calls": [c.to_json() for c in calls]})
        return 0
    if not calls:
        print("no forecast calls yet: record one with `keyfunnel call add`")
    for c in calls:
        print(f"{c.called_at:%Y-%m-%d}  {c.period}  {c.unit:<16} commit {formatting.money_short(c.commit):>8}  "
              f"best {formatting.money_short(c.best_case):>8}" + ("  (superseded)" if c.superseded else "")
              + (f"  {c.note}" if c.note else ""))
    return 0


def add_plans_commands(sub) -> None:
    from analytics.cli.common import positive_number

    p = sub.add_parser("targets", help="list the targets in force; `targets import FILE` imports targets, "
                                       "teams or calls files")
    p.add_argument("--period", type=str.upper, metavar="PERIOD", help="a quarter (2026Q4) or month (2026-11)")
    p.add_argument("--json", action="store_true")
    actions = p.add_subparsers(dest="action")
    i = actions.add_parser("import", help="import targets, teams or forecast calls files as one batch")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--sheet", metavar="NAME", help="the sheet to read in a workbook")
    i.add_argument("--json", action="store_true")
    add_wait(i)
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("attainment", help="won, pipeline, coverage and P(reach target) per owner, team or region")
    p.add_argument("--quarter", type=quarter_arg, metavar="QUARTER", help="e.g. 2026Q4 (default: the current)")
    p.add_argument("--by", choices=("owner", "team", "region"), default="owner")
    p.add_argument("--as-of", type=iso_date, metavar="DATE", help="standing at the end of this day")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_attainment)

    p = sub.add_parser("call", help="`call add`: record a forecast call (never edited: a new one supersedes)")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="record a forecast call")
    a.add_argument("--quarter", type=quarter_arg, required=True, metavar="QUARTER")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", metavar="NAME")
    who.add_argument("--team", metavar="NAME")
    a.add_argument("--commit", type=float, required=True)
    a.add_argument("--best-case", type=positive_number, required=True)
    a.add_argument("--note", metavar="TEXT")
    a.add_argument("--at", type=iso_date, metavar="DATE", help="when the call was made (default: now)")
    a.add_argument("--by", metavar="NAME", help="who entered it (default: your user name)")
    add_wait(a)
    p.set_defaults(func=cmd_call_add)

    p = sub.add_parser("calls", help="list forecast calls; `calls accuracy` scores them against the actuals")
    p.add_argument("--quarter", type=quarter_arg, metavar="QUARTER")
    p.add_argument("--json", action="store_true")
    actions = p.add_subparsers(dest="action")
    acc = actions.add_parser("accuracy", help="each owner's calls and keyfunnel's P50 against the actuals")
    acc.add_argument("--as-of", type=iso_date, metavar="DATE")
    out = acc.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true")
    p.set_defaults(func=cmd_calls)
