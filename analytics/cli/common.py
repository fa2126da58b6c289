"""What every `keyfunnel` command shares: opening the database as a command needs it, and printing --json.

Both the parser's commands (analytics.cli) and the analyses' (analytics.commands) use them, so they live below
both: cli imports commands, and neither imports the other's privates.
"""

from __future__ import annotations

import json
from datetime import date, datetime


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
    from analytics.store.connection import Store, resolve_db_path

    if read_only and not resolve_db_path(args.db).exists():
        Store(args.db).close()  # a first run: create the empty, migrated database
    store = Store(args.db, read_only=read_only)
    if read_only and store.needs_migration():  # written by an older keyfunnel: migrate once, as a writer, then read
        store.close()
        Store(args.db).close()
        store = Store(args.db, read_only=True)
    return store
