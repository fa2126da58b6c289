"""The data commands: import, inspect, profiles, sample, batches, undo, serve, export-db, import-db and
hash-password."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

from analytics.cli.common import open_store, print_json


def _progress_bar():
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, step) -> None:
        width = 30
        filled = int(width * fraction)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {str(step)[:40]:<40}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _describe(issue) -> str:
    """One problem on one line: file, row, column, value, reason."""
    where = issue.file + (f", row {issue.row}" if issue.row else "") + (
        f", column {issue.column}" if issue.column else "")
    value = f" value {issue.value!r}:" if issue.value is not None else ""
    return f"  error: {where}:{value} {issue.reason}"


def _profile(args):
    """The --profile given (a preset, a saved profile's name or a file), or None: detect from the headers."""
    if not args.profile:
        return None
    from analytics.ingest.crm.profiles import load_profile, profiles_dir

    return load_profile(args.profile, profiles_dir(args.db))


def _clear_demo_unless_kept(store, args, result) -> None:
    """Once a user's own data has landed in the demo database, the demo is cleared, as the app does, so that real
    and generated deals never mix (a rejected import leaves it as it was); --keep-demo keeps it."""
    from analytics.ingest.demo import clear_demo_data, demo_batch

    batch = demo_batch(store)
    if batch is not None and not args.keep_demo and result.status == "imported":
        clear_demo_data(store)
        print(f"demo data cleared (batch {batch} undone), now that your data is in; --keep-demo keeps it",
              file=sys.stderr)


def cmd_import(args) -> int:
    from analytics.ingest.crm.source import read_header
    from analytics.ingest.router import route

    files = list(args.files)
    routed = route({f: read_header(f, args.sheet) for f in files}, profile_named=args.profile is not None)
    if routed.plans:
        if len(routed.plans) < len(files) or args.history:
            print("keyfunnel: import targets, teams or calls files on their own (`keyfunnel targets import FILE`)",
                  file=sys.stderr)
            return 2
        from analytics.ingest.plans import import_plans

        with open_store(args) as store:
            return show_import_result(import_plans(store, files, sheet=args.sheet), args.json)
    if not routed.crm:
        from analytics.ingest.canonical import import_files

        # a history alone goes to the importer as the deals file: it says to pass it with --history
        deals = routed.deals or files[0]
        history = args.history or (routed.history if routed.history != deals else None)
        if len(files) > (1 if args.history else 2) or len(files) == 2 and history is None:
            print("keyfunnel: a canonical import is one deals file, optionally with --history FILE",
                  file=sys.stderr)
            return 2
        with open_store(args) as store:
            result = import_files(store, deals, history, skip_invalid=args.skip_invalid,
                                  decimal_comma=args.decimal_comma, sheet=args.sheet,
                                  progress=None if args.json else _progress_bar())
            _clear_demo_unless_kept(store, args, result)
    else:
        from dataclasses import replace

        from analytics.ingest.crm.load import import_export, read_export
        profile = _profile(args)
        if profile is not None and args.decimal_comma:
            profile = replace(profile, decimal_mark=",")
        tables, read_errors = read_export(files + ([args.history] if args.history else []), sheet=args.sheet)
        with open_store(args) as store:
            result = import_export(store, tables, read_errors, profile, skip_invalid=args.skip_invalid,
                                   progress=None if args.json else _progress_bar())
            _clear_demo_unless_kept(store, args, result)
    return show_import_result(result, args.json)


def show_import_result(result, as_json: bool) -> int:
    """Print an import's outcome (one JSON object, or its message and every problem); the exit code."""
    if as_json:
        print_json(result.to_json())
    else:
        print(result.message)
        for e in result.errors[:50]:
            print(_describe(e))
        if len(result.errors) > 50:
            print(f"  … and {len(result.errors) - 50} more errors (use --json for all)")
        if result.warnings:
            print(f"  {len(result.warnings)} warnings" + (", e.g. " + result.warnings[0].reason
                                                           if result.warnings else ""))
    return 1 if result.status == "rejected" else 0


def cmd_inspect(args) -> int:
    from analytics.ingest.crm.convert import convert_export
    from analytics.ingest.crm.load import read_export

    tables, read_errors = read_export(args.files, sheet=args.sheet)
    conversion = convert_export(tables, _profile(args))
    if args.json:
        print_json(conversion.summary())
        return 0
    if conversion.preset == "generic" and args.profile is None:
        from analytics.ingest.crm.suggest import suggested_profile_toml

        print("no preset recognises this export: the generic mapping below was suggested from its headers.\n"
              "Save it as a .toml file, edit it, and import with --profile FILE.toml\n")
        print(suggested_profile_toml(conversion))
    print(f"preset: {conversion.preset}; dates: {conversion.date_order or 'year first'}; "
          f"deals: {len(conversion.deals)}; stage events: {len(conversion.events)}")
    for name, role in conversion.roles.items():
        print(f"  {name}: {role}")
    print("columns:")
    for f, header in conversion.columns.items():
        print(f"  {f:<18} ← {header}")
    print("stages:")
    for s in conversion.stages:
        print(f"  {s.label:<32} {s.rows:>7} rows → {s.target if s.target is not None else 'UNMAPPED'}")
    for issue in conversion.mapping_errors + read_errors + conversion.errors[:20]:
        print(_describe(issue))
    for issue in conversion.warnings[:20]:
        print(_describe(issue).replace("  error: ", "  warning: ", 1))
    return 1 if conversion.mapping_errors else 0


def cmd_profiles(args) -> int:
    from analytics.ingest.crm.profiles import list_profiles, load_profile, profiles_dir

    folder = profiles_dir(args.db)
    if args.name:
        print_json(load_profile(args.name, folder).to_json())
    else:
        for name in list_profiles(folder):
            print(name)
    return 0


def cmd_sample(args) -> int:
    from analytics.sample import SampleParameters, write_sample

    params = SampleParameters(deals=args.deals, seed=args.seed, as_of=(args.as_of or date.today()).isoformat(),
                              years=args.years, factor_effect=args.factor_effect)
    truth = write_sample(args.out, params)
    c = truth["counts"]
    print(f"wrote {args.out}/deals.csv ({c['deals']:,} deals: {c['won']:,} won, {c['lost']:,} lost, "
          f"{c['open']:,} open), stage_history.csv ({c['stage_events']:,} stage events, {c['deal_changes']:,} "
          f"close-date or amount changes) and truth.json")
    return 0


def cmd_batches(args) -> int:
    from analytics.ingest.batches import list_batches

    with open_store(args, read_only=True) as store:
        batches = list_batches(store)
    if args.json:
        print_json({"batches": [b.to_json() for b in batches]})
        return 0
    if not batches:
        print("no batches imported yet")
    for b in batches:
        print(f"{b.batch_id:>4}  {b.status:<8}  {b.finished_at:%Y-%m-%d %H:%M}  {', '.join(b.files)}  "
              f"(+{b.deals_inserted} deals, {b.deals_updated} updated, +{b.stage_events_added} stage events"
              + (f", {b.rows_rejected} rows rejected" if b.rows_rejected else "") + ")")
    return 0


def cmd_undo(args) -> int:
    from analytics.ingest.batches import undo_batch

    with open_store(args) as store:
        batch = undo_batch(store, args.batch_id)
    print(f"batch {batch.batch_id} undone: removed {batch.deals_inserted} added deals and "
          f"{batch.stage_events_added} stage events, restored {batch.deals_updated} updated deals")
    return 0


def cmd_serve(args) -> int:
    app = Path(__file__).resolve().parents[2] / "app.py"
    # KEYFUNNEL_PRECOMPUTE: the app computes the demo's slow results as soon as it has built the demo (ui._store)
    env = {"KEYFUNNEL_PRECOMPUTE": "1", **os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    if args.db:
        env["KEYFUNNEL_DB"] = str(args.db)
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
           "--server.port", str(args.port), "--browser.gatherUsageStats", "false",
           # as in .streamlit/config.toml, which Streamlit reads only when started from the project's folder
           "--client.showErrorDetails", "none", "--client.toolbarMode", "viewer"]
    if args.headless:
        cmd += ["--server.headless", "true"]
    # Become the server rather than run it as a child: a signal to `keyfunnel serve` then reaches Streamlit, and
    # stopping serve never leaves an orphaned server behind.
    os.execve(sys.executable, cmd, env)
    return 0  # not reached


def cmd_export_db(args) -> int:
    from analytics.store.backups import export_database

    with open_store(args, read_only=True) as store:
        folder = export_database(store, args.folder)
    print(f"exported {store.path} to {folder} (Parquet)")
    return 0


def cmd_import_db(args) -> int:
    from analytics.store.backups import import_database
    from analytics.store.connection import Store

    path = import_database(args.folder, args.db)
    with Store(path) as store:
        store.migrate()  # a backup from an older keyfunnel gets the newer migrations
        deals = store.scalar("SELECT count(*) FROM deals")
    print(f"restored {path} from {args.folder}: {deals} deals")
    return 0


def cmd_hash_password(args) -> int:
    import getpass

    from analytics.auth import hash_password

    password = getpass.getpass("password: ")
    if not password:
        print("keyfunnel: an empty password is not allowed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
