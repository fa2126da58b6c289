"""Backups: the whole database to Parquet files (EXPORT DATABASE) and back into a new database file."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from analytics.exceptions import StoreError
from analytics.messages import say
from analytics.store.connection import Store, _map_duckdb_error, resolve_db_path


def export_database(store: Store, folder: str | os.PathLike) -> Path:
    """EXPORT DATABASE to Parquet files in `folder` (a backup: schema.sql, load.sql and one file per table)."""
    target = _safe_path_literal(folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    store.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet)")
    return Path(folder)


def _safe_path_literal(folder: str | os.PathLike) -> str:
    """EXPORT/IMPORT DATABASE take no bound parameter for their path, so the path is formatted into the statement:
    only after checking it holds no character that could end or break the string literal."""
    text = str(Path(folder).resolve())
    if any(ch in text for ch in ("'", "\x00", "\n", "\r")):
        raise StoreError(say("backup_path"), str(folder))
    return text


def import_database(folder: str | os.PathLike, db_path: str | os.PathLike | None = None) -> Path:
    """IMPORT DATABASE from a folder written by export_database, into a new database file."""
    path = resolve_db_path(db_path)
    source = _safe_path_literal(folder)
    if not (Path(folder) / "load.sql").exists():
        raise StoreError(say("not_a_backup"), str(folder))
    if path.exists():
        raise StoreError(say("restore_exists", path=str(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(f"IMPORT DATABASE '{source}'")
    except duckdb.Error as exc:
        con.close()
        path.unlink(missing_ok=True)
        raise _map_duckdb_error(exc, path) from None
    con.close()
    return path
