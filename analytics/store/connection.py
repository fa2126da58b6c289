"""The one module that opens DuckDB: connections, SQL with bound parameters, transactions, settings, the data on
any date (Store.as_of) and backups. Schema and migrations are in analytics.store.schema, the derived per-deal
tables in analytics.store.facts.

Every value reaches SQL as a bound parameter. The only identifiers formatted into SQL come from fixed tuples
(analytics.store.schema's DEAL_COLUMNS and STAGE_DAY_COLUMNS, analytics.domain) or names checked against a
pattern (kf_ temp tables).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from analytics.exceptions import StoreBusy, StoreError
from analytics.messages import say
from analytics.store.facts import (
    DEAL_FACTS_SQL,
    DEAL_SPANS_SQL,
    FACTS_RESORT_SHARE,
    STAGE_DURATIONS_SQL,
    deal_facts_query,
    deal_facts_sql,
    deal_spans_query,
    deal_spans_sql,
    durations_query,
    stage_durations_sql,
)
from analytics.store.frames import frame_from_result
from analytics.store.schema import DERIVED_VERSION, MIGRATIONS

_PARAM_NAME = re.compile(r"\$([A-Za-z_]\w*)")
DEFAULT_DB_PATH = Path("data") / "keyfunnel.duckdb"


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db, else $KEYFUNNEL_DB, else data/keyfunnel.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KEYFUNNEL_DB")
    return Path(env) if env else DEFAULT_DB_PATH


def _map_duckdb_error(exc: duckdb.Error, path: Path) -> Exception:
    text = str(exc)
    if "lock" in text.lower() and ("conflicting" in text.lower() or "could not set lock" in text.lower()):
        return StoreBusy(say("store_busy", path=str(path)))
    if isinstance(exc, duckdb.OutOfMemoryException):
        return StoreError(say("store_out_of_memory", limit=_duckdb_config()["memory_limit"],
                              detail=text.splitlines()[0]), str(path))
    return StoreError(say("store_failed", detail=text.splitlines()[0]), str(path))


def _bound(sql: str, params: Sequence[Any] | dict | None) -> Sequence[Any] | dict | None:
    """DuckDB rejects unused named parameters; bind exactly the $names this statement uses."""
    if isinstance(params, dict):
        used = set(_PARAM_NAME.findall(sql))
        return {k: v for k, v in params.items() if k in used}
    return params


def _duckdb_config() -> dict:
    """DuckDB would take up to 80% of the machine's memory; with a limit it spills large sorts to <db>.tmp instead:
    1 GB keeps a 1M-deal import under 1.5 GB resident at the same speed. asof_loop_join_threshold 0: an ASOF join
    whose left side DuckDB under-estimates (a CTE after a filter: 21 rows estimated for 220,000) ran as a nested
    loop, 48M pairs and 11 s for the training rows of 100k deals; as the ASOF join it is, 0.5 s
    (docs/performance-misses.md)."""
    return {"memory_limit": os.environ.get("KEYFUNNEL_MEMORY_LIMIT", "1GB"), "asof_loop_join_threshold": 0}


_CAPPED = threading.Lock()
_CAP_DEPTH: dict[int, int] = {}  # id(a store's DuckDB instance) → how many memory_capped blocks are inside it


@contextmanager
def memory_capped(store: Store, limit: str = "640MB") -> Iterator[None]:
    """Within it, DuckDB holds at most `limit` of the process's memory (it spills the rest to <db>.tmp), for a
    statement whose result is itself large: at a million deals, the training rows of the backtest's eight dates
    (0.12 GB of result, 0.35 GB with its copies) took the process, DuckDB's 1 GB beside it, to 1.7 GB; capped at
    640 MB it peaked at 1.1 GB, no slower. The limit is the database instance's: other threads' statements on the
    store run under it meanwhile (slower if they spill, never wrong); the last block to leave restores it."""
    key = id(store._con)
    with _CAPPED:
        if not _CAP_DEPTH.get(key):
            store.execute("SET memory_limit = $limit", {"limit": limit})
        _CAP_DEPTH[key] = _CAP_DEPTH.get(key, 0) + 1
    try:
        yield
    finally:
        with _CAPPED:
            _CAP_DEPTH[key] -= 1
            if not _CAP_DEPTH[key]:
                del _CAP_DEPTH[key]
                store.execute("SET memory_limit = $limit", {"limit": _duckdb_config()["memory_limit"]})


class Store:
    """A DuckDB deal store. Cursors are per thread: Streamlit sessions are threads."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        self.path = resolve_db_path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only, config=_duckdb_config())
        except duckdb.Error as exc:
            raise _map_duckdb_error(exc, self.path) from None
        self._local = threading.local()
        if not read_only:
            self.migrate()

    # Connections ---------------------------------------------------------------------------------
    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def execute(self, sql: str, params: Sequence[Any] | dict | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self.cursor.execute(sql, _bound(sql, params) or [])
        except duckdb.Error as exc:
            raise _map_duckdb_error(exc, self.path) from exc

    def fetchall(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | dict | None = None) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        return (self.fetchone(sql, params) or (None,))[0]

    def fetch_dicts(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def fetch_df(self, sql: str, params: Sequence[Any] | dict | None = None):
        """The result as a DataFrame typed as DuckDB's .df() types it, read 5× faster (analytics.store.frames)."""
        try:
            frame = frame_from_result(self.execute(sql, params))
        except duckdb.Error as exc:
            raise _map_duckdb_error(exc, self.path) from exc
        return self.execute(sql, params).df() if frame is None else frame

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All or nothing: commits on success, rolls back on any exception."""
        self.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self.cursor.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")

    # Schema --------------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded, in order; returns the names applied."""
        self.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)")
        done = {r[0] for r in self.fetchall("SELECT name FROM schema_migrations")}
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                self.execute(sql)
                self.execute("INSERT INTO schema_migrations VALUES (?, now())", [name])
            applied.append(name)
        if self.get_setting("derived_version") != DERIVED_VERSION:
            with self.transaction():
                self.refresh_deal_facts()
                self.set_setting("derived_version", DERIVED_VERSION)
        return applied

    def needs_migration(self) -> bool:
        """Whether a writer must migrate this database (or rebuild its derived tables) before it can be read: a
        database written by an older keyfunnel."""
        try:
            done = {r[0] for r in self.fetchall("SELECT name FROM schema_migrations")}
        except StoreError:
            return True
        return any(name not in done for name, _ in MIGRATIONS) or \
            self.get_setting("derived_version") != DERIVED_VERSION

    def migrations(self) -> list[str]:
        return [r[0] for r in self.fetchall("SELECT name FROM schema_migrations ORDER BY name")]

    # Settings ------------------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM settings WHERE key = ?", [key])

    def set_setting(self, key: str, value: str | None) -> None:
        self.execute("DELETE FROM settings WHERE key = ?", [key])
        if value is not None:
            self.execute("INSERT INTO settings VALUES (?, ?)", [key, value])

    # Per-deal facts ------------------------------------------------------------------------------
    def refresh_deal_facts(self, affected: str | None = None) -> None:
        """Recompute deal_facts: one row per deal with what every analysis needs; then stage_durations and
        deal_spans (each recorded value's span of time, for the waterfall).

        Done once per import or undo, never per query. Days in the current stage of an open deal depend on the
        as-of date, so they are computed at query time from current_stage_entered_at.

        `affected`: the name of a temp table (kf_…) listing the deal_ids an import or undo changed. A deal's facts
        and durations depend on its own row and events only, so only theirs are recomputed, and appended: both
        tables are stored in an order the analyses read fast (deal_facts grouped by outcome, stage_durations sorted),
        and the deals appended since the last full rebuild are counted; once they would pass FACTS_RESORT_SHARE of
        the table, or with no list, both tables are rebuilt in order.
        """
        if affected is not None and not _TEMP_TABLE.fullmatch(affected):
            raise ValueError(f"not a keyfunnel temp table: {affected!r}")
        changed = self.scalar(f"SELECT count(*) FROM {affected}") if affected is not None else None
        if changed is not None and self.facts_refresh_is_partial(changed):
            self.execute(f"DELETE FROM deal_facts WHERE deal_id IN (SELECT deal_id FROM {affected})")
            self.execute("INSERT INTO deal_facts BY NAME " + deal_facts_query(affected))
            self.execute(f"CREATE OR REPLACE TEMP TABLE kf_duration_keys AS "
                         f"SELECT DISTINCT hash(deal_id) AS deal_key FROM {affected}")
            self.execute("DELETE FROM stage_durations WHERE deal_key IN (SELECT deal_key FROM kf_duration_keys)")
            self.execute("INSERT INTO stage_durations BY NAME " + durations_query("kf_duration_keys"))
            self.execute("DROP TABLE kf_duration_keys")
            self.execute(f"DELETE FROM deal_spans WHERE deal_id IN (SELECT deal_id FROM {affected})")
            self.execute("INSERT INTO deal_spans BY NAME " + deal_spans_query(affected))
            self.set_setting("facts_appended", str(int(self.get_setting("facts_appended") or 0) + changed))
        else:
            self.execute(DEAL_FACTS_SQL)
            self.execute(STAGE_DURATIONS_SQL)
            self.execute(DEAL_SPANS_SQL)
            self.set_setting("facts_appended", "0")
        # a new data version: results computed from the old data (analytics.store.cache) no longer apply
        self.execute("INSERT OR REPLACE INTO settings VALUES ('data_version', ?)", [uuid.uuid4().hex])

    @contextmanager
    def as_of(self, when: date | datetime) -> Iterator[Store]:
        """Within it, this thread's queries see the data as it stood at the start of `when`: the deals created
        before it (closed only if they closed before it), the stage events and close-date and amount changes before
        it, and deal_facts, stage_durations and deal_spans rebuilt from those: temp tables of this thread's
        connection, which shadow the stored ones for it alone (a read-only store allows them), dropped on leaving.
        Every analysis that reads those tables then answers as of that date, unchanged."""
        t = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day)
        try:
            for table, moment in (("stage_events", "entered_at"), ("deal_changes", "changed_at")):  # fixed names
                self.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM main.{table} WHERE {moment} < $t",
                             {"t": t})
            self.execute("""CREATE OR REPLACE TEMP TABLE deals AS
                SELECT d.* REPLACE (
                    CASE WHEN d.outcome <> 'open' AND d.closed_at < CAST($t AS DATE) THEN d.outcome ELSE 'open' END
                        AS outcome,
                    CASE WHEN d.outcome <> 'open' AND d.closed_at < CAST($t AS DATE) THEN d.closed_at END AS closed_at)
                FROM main.deals d
                LEFT JOIN (SELECT deal_id, min(entered_at) AS first_at FROM temp.stage_events GROUP BY deal_id) f
                    USING (deal_id)
                WHERE coalesce(d.created_at, CAST(f.first_at AS DATE)) < CAST($t AS DATE)""", {"t": t})
            self.execute(deal_facts_sql(temp=True))
            self.execute(stage_durations_sql(temp=True))
            self.execute(deal_spans_sql(temp=True))
            yield self
        finally:
            for table in _AS_OF_TABLES:
                self.execute(f"DROP TABLE IF EXISTS temp.{table}")

    def facts_refresh_is_partial(self, deals: int) -> bool:
        """Whether refresh_deal_facts would recompute `deals` deals' facts alone rather than rebuild the table (an
        importer asks before listing them: at a first import of a million deals the list is wasted work)."""
        appended = int(self.get_setting("facts_appended") or 0)
        total = self.scalar("SELECT count(*) FROM deal_facts")
        return bool(total) and appended + deals <= FACTS_RESORT_SHARE * total

    def data_version(self) -> str:
        """Changes whenever deal_facts is recomputed (import, undo, demo removal)."""
        return self.scalar("SELECT value FROM settings WHERE key = 'data_version'") or "initial"

    def table_checksums(self, tables: Sequence[str] = ("deals", "stage_events", "deal_changes", "import_batches",
                                                       "deal_previous", "batch_deals", "rejected_rows",
                                                       "import_warnings", "deal_facts")) -> dict[str, tuple]:
        """Row count and an order-independent hash of every row, per table: equal checksums, equal contents."""
        out = {}
        for table in tables:
            if table not in _CHECKSUM_TABLES:
                raise ValueError(f"unknown table {table!r}")
            out[table] = self.fetchone(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} AS t")
        return out


# Store.as_of's temp tables, dropped on leaving
_AS_OF_TABLES = ("deal_spans", "stage_durations", "deal_facts", "deals", "stage_events", "deal_changes")
_TEMP_TABLE = re.compile(r"kf_[a-z_]+")

_CHECKSUM_TABLES = frozenset({"deals", "stage_events", "deal_changes", "import_batches", "deal_previous",
                              "batch_deals", "rejected_rows", "import_warnings", "deal_facts", "stage_durations",
                              "deal_spans",
                              "settings", "schema_migrations"})


def viewing_as_of(store: Store) -> bool:
    """Whether this thread's queries see a Store.as_of view (its temp tables, deal_facts among them, shadow the
    stored ones). The view's data version is still today's, so what is computed in it is not today's result to share
    (analytics.store.cache)."""
    return bool(store.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = $table",
                             {"table": "deal_facts"}))
