"""The `keyfunnel` command line: the parser and main. The commands are in analytics.cli.data (import, batches,
undo, serve, backups) and analytics.cli.analyses (every analysis, report); what both share in analytics.cli.common.

Heavy imports (pandas, scipy, scikit-learn) stay inside the commands that need them, so a cold `keyfunnel funnel`
starts fast. Exit codes: 0 success (imported or unchanged), 1 rejected input or any error, 2 usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from analytics.cli.data import (
    cmd_batches,
    cmd_export_db,
    cmd_hash_password,
    cmd_import,
    cmd_import_db,
    cmd_inspect,
    cmd_profiles,
    cmd_sample,
    cmd_serve,
    cmd_undo,
)


def build_parser() -> argparse.ArgumentParser:
    from analytics.cli.analyses import add_analysis_commands
    from analytics.cli.common import add_wait, at_least, iso_date, positive_number
    from analytics.cli.plans import add_plans_commands

    parser = argparse.ArgumentParser(prog="keyfunnel", description="Pipeline analytics for key-account sales.")
    parser.add_argument("--db", metavar="PATH",
                        help="DuckDB file (default: $KEYFUNNEL_DB, else data/keyfunnel.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("import", help="import a deals CSV (and its stage history), or a CRM export, as one batch")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="deals CSV, canonical or wide (stage_1_at … stage_8_at); or a CRM export's files "
                        "(Salesforce Opportunity + OpportunityHistory, HubSpot deals, Dynamics 365 opportunities, "
                        "or snapshot files)")
    p.add_argument("--history", metavar="FILE", help="stage history CSV: deal_id, stage, entered_at")
    p.add_argument("--profile", metavar="NAME|PATH",
                   help="mapping profile: salesforce, hubspot, dynamics365, snapshots, a saved profile's name, or "
                        "a .json/.toml file (default: detected from the headers)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows and keep the invalid ones in rejected_rows")
    p.add_argument("--decimal-comma", action="store_true", help="amounts use a decimal comma (1.234,50)")
    p.add_argument("--sheet", metavar="NAME", help="the sheet to read in a workbook (default: the first with data)")
    p.add_argument("--keep-demo", action="store_true",
                   help="importing into the demo database: keep the demo deals (default: clear them first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_wait(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("inspect", help="show how a CRM export maps: preset, columns, every stage name and count")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--profile", metavar="NAME|PATH", help="mapping profile (default: detected from the headers)")
    p.add_argument("--sheet", metavar="NAME", help="the sheet to read in a workbook (default: the first with data)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("profiles", help="list mapping profiles, or print one as JSON to edit and save")
    p.add_argument("name", nargs="?", metavar="NAME", help="print this profile")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("sample", help="write realistic sample data with known truth")
    p.add_argument("--deals", type=at_least(1), default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--as-of", type=iso_date, metavar="DATE", help="the simulation's as-of date (default: today)")
    p.add_argument("--years", type=positive_number, default=4.0, help="years of history (default 4)")
    p.add_argument("--factor-effect", type=float, default=1.0,
                   help="scale of the nine factors' effect on winning; 0 = no signal (default 1)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("batches", help="list import batches")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_batches)

    p = sub.add_parser("undo", help="remove exactly what a batch added or changed")
    p.add_argument("batch_id", type=int, metavar="BATCH_ID")
    add_wait(p)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("serve", help="run the app on 127.0.0.1 (usage statistics off)")
    p.add_argument("--port", type=at_least(1), default=8501)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export-db", help="back up the database to a folder of Parquet files")
    p.add_argument("folder", metavar="DIR")
    p.set_defaults(func=cmd_export_db)

    p = sub.add_parser("import-db", help="restore a backup folder into a new database file (--db)")
    p.add_argument("folder", metavar="DIR")
    p.set_defaults(func=cmd_import_db)

    p = sub.add_parser("hash-password", help="print the scrypt hash of a password, for KEYFUNNEL_*_PASSWORD_HASH")
    p.set_defaults(func=cmd_hash_password)

    add_analysis_commands(sub)
    add_plans_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from analytics.exceptions import KeyfunnelError

    try:
        return args.func(args)
    except KeyfunnelError as exc:
        print(f"keyfunnel: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into head, less, …
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("keyfunnel: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # no traceback reaches a user; KEYFUNNEL_DEBUG=1 shows it
        if os.environ.get("KEYFUNNEL_DEBUG"):
            raise
        print(f"keyfunnel: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
