"""What every `keyfunnel` command shares: opening the database as a command needs it, printing --json, the
argument types and filter options, and the text tables' percentage cells.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime

from analytics import formatting
from analytics.exceptions import KeyfunnelError


def json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=json_default))


def open_store(args, read_only: bool = False):
    """A read-only snapshot of the database (a reader never waits: analytics.store.turns), or, for a command that
    writes, a draft in this process's turn, published when the command's `with` block ends without an error. A
    writer waits for another one (the app's Import page, a scheduled import) up to --wait seconds, saying who."""
    import sys

    from analytics.store.turns import DEFAULT_WAIT, reading, writing

    wait = getattr(args, "wait", None)
    wait = DEFAULT_WAIT if wait is None else wait
    if read_only:
        return reading(args.db, wait=wait)

    def waiting(holder, seconds: float) -> None:
        who = holder.describe() if holder is not None else "another keyfunnel"
        print(f"keyfunnel: waiting for {who} to finish writing the database ({seconds:.0f} s of {wait:.0f})",
              file=sys.stderr, flush=True)

    return writing(args.db, what=f"keyfunnel {' '.join(_command_words(args))}", wait=wait, on_wait=waiting)


def _command_words(args) -> list[str]:
    words = [args.command]
    action = getattr(args, "action", None)
    return words + [action] if isinstance(action, str) else words


def add_wait(parser: argparse.ArgumentParser) -> None:
    """--wait SECONDS, on every command that writes the database."""
    parser.add_argument("--wait", type=non_negative_number, default=None, metavar="SECONDS",
                        help="wait this long for another writer (the app's import, a scheduled import) to finish "
                             "(default 60)")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def at_least(minimum: int):
    """An argparse type: a whole number of at least `minimum`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}: {text}")
        return value
    return parse


def number_within(text: str, low: float, high: float, requirement: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not low < value < high:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{requirement}: {text}")
    return value


def non_negative_number(text: str) -> float:
    """An argparse type: a finite number of at least 0 (seconds to wait)."""
    requirement = "must be a number of at least 0"
    value = number_within(text, float("-inf"), float("inf"), requirement)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{requirement}: {text}")
    return value


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (a target, a number of years)."""
    return number_within(text, 0, float("inf"), "must be a number above 0")


def probability(text: str) -> float:
    """An argparse type: a probability strictly between 0 and 1 (0.75, not 75)."""
    return number_within(text, 0, 1, "must be between 0 and 1, e.g. 0.75")


def quarter_arg(text: str) -> str:
    from analytics.filters import quarter_bounds

    try:
        quarter_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.upper().replace("-", "").replace(" ", "")


def add_filter_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters")
    for name in ("tier", "owner", "region", "industry"):
        g.add_argument(f"--{name}", action="append", default=[], metavar=name.upper(),
                       help=f"only deals with this {name} (repeatable)")
    g.add_argument("--created-from", type=iso_date, metavar="DATE")
    g.add_argument("--created-to", type=iso_date, metavar="DATE")
    g.add_argument("--closed-from", type=iso_date, metavar="DATE")
    g.add_argument("--closed-to", type=iso_date, metavar="DATE")
    g.add_argument("--cohort", type=quarter_arg, metavar="QUARTER", help="deals created in a quarter, e.g. 2025Q3")
    p.add_argument("--as-of", type=iso_date, metavar="DATE", help="as-of date (default: the latest date in the data)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", action="store_true", help="print the result's table as CSV (its to_frame(): "
                                                       "intervals as _low and _high columns)")


def filters_from_args(args):
    from analytics.filters import DealFilter

    return DealFilter.from_choices(vars(args))


def pct_cell(x) -> str:
    return "   –  " if x is None else f"{formatting.percent(x):>6}"


def ci_cell(ci) -> str:
    if ci is None:
        return "        –        "
    return f"[{formatting.percent(ci[0]):>5}, {formatting.percent(ci[1]):>5}]"





def run_analysis(args, compute, render, *, rebuild_as_of: bool = False) -> int:
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
    elif getattr(args, "csv", False):
        import sys

        from analytics.present.export import neutralise_frame

        if not hasattr(result, "to_frame"):
            raise KeyfunnelError(f"`{args.command}` has no single table: use --json")
        neutralise_frame(result.to_frame()).to_csv(sys.stdout, index=False)
    else:
        render(result)
    return 0
