"""The one module that owns DuckDB: connections, migrations, transactions and the per-deal facts.

Every value reaches SQL as a bound parameter. The only identifiers formatted into SQL come from fixed tuples
defined here (DEAL_COLUMNS, STAGE_DAY_COLUMNS) or in analytics.domain.
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

from analytics.domain import FACTOR_KEYS, LAST_STAGE, STAGE_NUMBERS
from analytics.exceptions import StoreBusy, StoreError
from analytics.filters import FILTERED_COLUMNS

_PARAM_NAME = re.compile(r"\$([A-Za-z_]\w*)")
DEFAULT_DB_PATH = Path("data") / "keyfunnel.duckdb"
# A history whose first recorded event comes this long after the deal was created started mid-way.
LEFT_TRUNCATION_DAYS = 30

DEAL_TEXT_COLUMNS = ("deal_id", "name", "account", "tier", "owner", "region", "industry", "currency", "outcome",
                     "lost_reason")
DEAL_DATE_COLUMNS = ("created_at", "expected_close", "closed_at")
DEAL_COLUMNS: tuple[str, ...] = (
    "deal_id", "name", "account", "tier", "owner", "region", "industry", "amount", "currency",
    "created_at", "expected_close", "closed_at", "outcome", "lost_reason", *FACTOR_KEYS,
)
STAGE_DAY_COLUMNS: tuple[str, ...] = tuple(f"days_stage_{n}" for n in STAGE_NUMBERS)

_FACTOR_DDL = ",\n".join(f"    {f} TINYINT CHECK ({f} BETWEEN 1 AND 5)" for f in FACTOR_KEYS)
_DEALS_BODY = f"""
    deal_id VARCHAR NOT NULL,
    account VARCHAR NOT NULL,
    tier VARCHAR CHECK (tier IN ('A', 'B', 'C', 'D')),
    owner VARCHAR,
    region VARCHAR,
    industry VARCHAR,
    amount DOUBLE NOT NULL,
    currency VARCHAR,
    created_at DATE NOT NULL,
    expected_close DATE,
    closed_at DATE,
    outcome VARCHAR NOT NULL CHECK (outcome IN ('won', 'lost', 'open')),
    lost_reason VARCHAR,
{_FACTOR_DDL},
    extra JSON,
    history_truncated BOOLEAN NOT NULL DEFAULT false,
    batch_id INTEGER NOT NULL"""

# Named, ordered migrations; each runs once and is recorded in schema_migrations.
_DERIVED = "SELECT 1"  # a migration that once rebuilt a derived table (see DERIVED_VERSION)
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("001_core_tables", f"""
CREATE SEQUENCE batch_id_seq START 1;
CREATE TABLE import_batches (
    batch_id INTEGER PRIMARY KEY,
    status VARCHAR NOT NULL CHECK (status IN ('imported', 'undone')),
    format VARCHAR NOT NULL,
    files VARCHAR[] NOT NULL,
    file_sha256 VARCHAR[] NOT NULL,
    rows_read INTEGER NOT NULL,
    deals_inserted INTEGER NOT NULL,
    deals_updated INTEGER NOT NULL,
    stage_events_added INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    undone_at TIMESTAMP
);
CREATE TABLE deals ({_DEALS_BODY}
);
CREATE TABLE stage_events (
    deal_id VARCHAR NOT NULL,
    stage TINYINT NOT NULL CHECK (stage BETWEEN 1 AND 8),
    entered_at TIMESTAMP NOT NULL,
    batch_id INTEGER NOT NULL
);
-- The state of each deal just before a batch overwrote it, so that undo restores it exactly.
CREATE TABLE deal_previous (
    overwritten_by INTEGER NOT NULL,{_DEALS_BODY}
);
-- Which deals each batch inserted or updated.
CREATE TABLE batch_deals (
    batch_id INTEGER NOT NULL,
    deal_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL CHECK (action IN ('insert', 'update'))
);
CREATE TABLE rejected_rows (
    batch_id INTEGER NOT NULL, file VARCHAR, "row" BIGINT, "column" VARCHAR, value VARCHAR, reason VARCHAR
);
CREATE TABLE import_warnings (
    batch_id INTEGER NOT NULL, file VARCHAR, "row" BIGINT, "column" VARCHAR, value VARCHAR, reason VARCHAR
);
CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR);
"""),
    # 002, 003, 005, 006 and 008 once rebuilt the derived tables with whatever the code's SQL was that day, which
    # breaks as soon as that SQL reads a column a later migration adds. The derived tables are versioned by
    # DERIVED_VERSION instead and rebuilt after the migrations (Store.migrate); the names stay recorded.
    ("002_deal_facts", _DERIVED),
    ("003_deal_facts_moves", _DERIVED),
    ("004_result_cache", """
CREATE TABLE result_cache (key VARCHAR PRIMARY KEY, data_version VARCHAR NOT NULL, created_at TIMESTAMP,
                           value BLOB NOT NULL);
"""),
    ("005_stage_durations", _DERIVED),
    ("006_stage_durations_deal_key", _DERIVED),
    # Real exports leave these blank (docs/data-format.md, "What may be missing"); a deal's name is shown where
    # the export has one. `name` is added last, to deal_previous too, so that both keep the same column order.
    ("007_optional_values_and_name", """
ALTER TABLE deals ALTER COLUMN account DROP NOT NULL;
ALTER TABLE deals ALTER COLUMN amount DROP NOT NULL;
ALTER TABLE deals ALTER COLUMN created_at DROP NOT NULL;
ALTER TABLE deal_previous ALTER COLUMN account DROP NOT NULL;
ALTER TABLE deal_previous ALTER COLUMN amount DROP NOT NULL;
ALTER TABLE deal_previous ALTER COLUMN created_at DROP NOT NULL;
ALTER TABLE deals ADD COLUMN name VARCHAR;
ALTER TABLE deal_previous ADD COLUMN name VARCHAR;
"""),
    ("008_deal_facts_inferred_creation", _DERIVED),
    # rows_read summed a batch's files (10,054 for a 5,229-row file and its history): each file's own count, in
    # the order of `files`; NULL for batches written before
    ("009_rows_read_per_file", "ALTER TABLE import_batches ADD COLUMN file_rows INTEGER[];"),
)
# Bumped whenever DEAL_FACTS_SQL or STAGE_DURATIONS_SQL changes what they compute: a database built by an older
# keyfunnel then has both tables rebuilt once, on its first open for writing.
DERIVED_VERSION = "2026-12-01 name, creation inferred from the first stage event, a lost deal's stage at most 7"


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db, else $KEYFUNNEL_DB, else data/keyfunnel.duckdb."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KEYFUNNEL_DB")
    return Path(env) if env else DEFAULT_DB_PATH


def _map_duckdb_error(exc: duckdb.Error, path: Path) -> Exception:
    text = str(exc)
    if "lock" in text.lower() and ("conflicting" in text.lower() or "could not set lock" in text.lower()):
        return StoreBusy(f"database busy, try again: {path} is in use by another keyfunnel process")
    return StoreError(f"{path}: {text.splitlines()[0]}")


class Store:
    """A DuckDB deal store. Cursors are per thread: Streamlit sessions are threads."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        self.path = resolve_db_path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # DuckDB would take up to 80% of the machine's memory; with a limit it spills large sorts to
            # <db>.tmp instead. 1 GB keeps a 1M-deal import under 1.5 GB resident at the same speed.
            self._con = duckdb.connect(str(self.path), read_only=read_only,
                                       config={"memory_limit": os.environ.get("KEYFUNNEL_MEMORY_LIMIT", "1GB")})
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
        if isinstance(params, dict):
            # DuckDB rejects unused named parameters; bind exactly the $names this statement uses.
            used = set(_PARAM_NAME.findall(sql))
            params = {k: v for k, v in params.items() if k in used}
        try:
            return self.cursor.execute(sql, params or [])
        except duckdb.Error as exc:
            raise _map_duckdb_error(exc, self.path) from exc

    def fetchall(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | dict | None = None) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def fetch_dicts(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def fetch_df(self, sql: str, params: Sequence[Any] | dict | None = None):
        return self.execute(sql, params).df()

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
        """Recompute deal_facts: one row per deal with what every analysis needs; then stage_durations.

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
            self.execute("INSERT INTO deal_facts BY NAME " + _deal_facts_of(affected))
            self.execute(f"CREATE OR REPLACE TEMP TABLE kf_duration_keys AS "
                         f"SELECT DISTINCT hash(deal_id) AS deal_key FROM {affected}")
            self.execute("DELETE FROM stage_durations WHERE deal_key IN (SELECT deal_key FROM kf_duration_keys)")
            self.execute("INSERT INTO stage_durations BY NAME " + _stage_durations_of("kf_duration_keys"))
            self.execute("DROP TABLE kf_duration_keys")
            self.set_setting("facts_appended", str(int(self.get_setting("facts_appended") or 0) + changed))
        else:
            self.execute(DEAL_FACTS_SQL)
            self.execute(STAGE_DURATIONS_SQL)
            self.set_setting("facts_appended", "0")
        # a new data version: results computed from the old data (analytics.results) no longer apply
        version = uuid.uuid4().hex
        self.execute("DELETE FROM result_cache")
        self.execute("INSERT OR REPLACE INTO settings VALUES ('data_version', ?)", [version])

    @contextmanager
    def as_of(self, when: date | datetime) -> Iterator[Store]:
        """Within it, this thread's queries see the data as it stood at the start of `when`: the deals created
        before it, each closed only if it closed before it, the stage events entered before it, and deal_facts and
        stage_durations rebuilt from those. They are temp tables of this thread's connection, which shadow the
        stored tables of the same names for this connection only (a read-only store allows them), dropped on
        leaving. Every analysis that reads those tables then answers as of that date, unchanged."""
        t = when if isinstance(when, datetime) else datetime(when.year, when.month, when.day)
        try:
            self.execute("CREATE OR REPLACE TEMP TABLE stage_events AS "
                         "SELECT * FROM main.stage_events WHERE entered_at < $t", {"t": t})
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

    # Backups ---------------------------------------------------------------------------------------------------
    def export_database(self, folder: str | os.PathLike) -> Path:
        """EXPORT DATABASE to Parquet files in `folder` (a backup: schema.sql, load.sql and one file per table)."""
        target = _safe_path_literal(folder)
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.execute(f"EXPORT DATABASE '{target}' (FORMAT parquet)")
        return Path(folder)

    def table_checksums(self, tables: Sequence[str] = ("deals", "stage_events", "import_batches", "deal_previous",
                                                       "batch_deals", "rejected_rows", "import_warnings",
                                                       "deal_facts")) -> dict[str, tuple]:
        """Row count and an order-independent hash of every row, per table: equal checksums, equal contents."""
        out = {}
        for table in tables:
            if table not in _CHECKSUM_TABLES:
                raise ValueError(f"unknown table {table!r}")
            out[table] = self.fetchone(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} AS t")
        return out


def _safe_path_literal(folder: str | os.PathLike) -> str:
    """EXPORT/IMPORT DATABASE take no bound parameter for their path, so the path is formatted into the statement:
    only after checking it holds no character that could end or break the string literal."""
    text = str(Path(folder).resolve())
    if any(ch in text for ch in ("'", "\x00", "\n", "\r")):
        raise StoreError(f"{folder}: a backup folder's path may not contain quotes or line breaks")
    return text


def import_database(folder: str | os.PathLike, db_path: str | os.PathLike | None = None) -> Path:
    """IMPORT DATABASE from a folder written by export_database, into a new database file."""
    path = resolve_db_path(db_path)
    source = _safe_path_literal(folder)
    if not (Path(folder) / "load.sql").exists():
        raise StoreError(f"{folder}: not a keyfunnel backup (no load.sql): write one with `keyfunnel export-db`")
    if path.exists():
        raise StoreError(f"{path} already exists: restore into a new database file (--db NEW.duckdb)")
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


_AS_OF_TABLES = ("stage_durations", "deal_facts", "deals", "stage_events")  # Store.as_of's temp tables, dropped
# A partial refresh appends the recomputed rows; past this share of deal_facts, both tables are rebuilt in order.
FACTS_RESORT_SHARE = 0.1
_TEMP_TABLE = re.compile(r"kf_[a-z_]+")

_CHECKSUM_TABLES = frozenset({"deals", "stage_events", "import_batches", "deal_previous", "batch_deals",
                              "rejected_rows", "import_warnings", "deal_facts", "stage_durations", "settings",
                              "schema_migrations"})

# A deal without a creation date (real exports leave it blank) is dated by its first stage event, when it has one;
# with neither it stays unknown: out of cohort and created-between filters and of cycle time, never dated today.
_CREATED = "coalesce(d.created_at, CAST(p.first_stage_at AS DATE))"
_deal_cols = ", ".join(f"{_CREATED} AS created_at" if c == "created_at" else f"d.{c}"
                       for c in DEAL_COLUMNS if c != "deal_id")
# Days in each stage: each stay lasts until the next recorded entry; stage 8 is the end, not a stage.
_days_cols = ",\n    ".join(
    f"sum(date_diff('second', e.entered_at, e.next_at) / 86400.0) FILTER (WHERE e.stage = {n}) AS days_{n}"
    for n in STAGE_NUMBERS if n < LAST_STAGE)
_last_stay = ",\n       ".join(
    f"""CASE WHEN p.last_stage = {n} AND d.outcome <> 'open' AND d.closed_at IS NOT NULL
            THEN coalesce(p.days_{n}, 0) + greatest(0, date_diff('second', p.last_stage_at,
                 CAST(d.closed_at AS TIMESTAMP)) / 86400.0) ELSE p.days_{n} END AS days_stage_{n}"""
    if n < LAST_STAGE else f"CAST(NULL AS DOUBLE) AS days_stage_{n}" for n in STAGE_NUMBERS)

# Events are ordered by time, then stage. A won deal with no stage-8 event counts as signed at closed_at: it has
# reached 8, its last recorded stay ends at the close, and stages between its last one and 8 were skipped. That is
# applied per deal after aggregating, not by adding events: the 4M-row event table is read once, in one window.
# The aggregate avoids what makes a hash aggregate slow over 4M rows (an ordered list, a DISTINCT, nested lists):
# stage sets are bit masks (bit s = stage s), and each move carries its position, seq * 100 + from * 10 + to, so
# that an unordered list() can be sorted afterwards, and only for the deals whose moves are kept.
_DEAL_FACTS_QUERY = f"""
WITH ordered AS (
    SELECT e.deal_id, e.stage, e.entered_at,
           lag(e.stage) OVER w AS prev_stage,
           lead(e.entered_at) OVER w AS next_at,
           row_number() OVER w AS seq
    FROM stage_events e /*events*/
    WINDOW w AS (PARTITION BY e.deal_id ORDER BY e.entered_at, e.stage)
),
per_deal AS (
    SELECT e.deal_id,
           count(*) AS n_events,
           -- consecutive recorded moves with their position, for conformance's transitions (sorted below)
           list(CAST(e.seq * 100 + e.prev_stage * 10 + e.stage AS INTEGER))
               FILTER (WHERE e.prev_stage IS NOT NULL) AS positioned_moves,
           max(e.stage) AS max_stage,
           max(e.stage) = {LAST_STAGE} AS has_last_stage,
           -- the first and last stage in order: seq * 16 + stage packs position and stage into one integer,
           -- whose min and max cost a fraction of arg_min(stage, seq) and arg_max (1.45 s -> 0.72 s at 1M deals)
           CAST(min(e.seq * 16 + e.stage) % 16 AS TINYINT) AS first_stage,
           min(e.entered_at) AS first_stage_at,
           max(e.entered_at) AS last_stage_at,  -- also the last entry's time: events are ordered by time first
           CAST(max(e.seq * 16 + e.stage) % 16 AS TINYINT) AS last_stage,
           bool_or(e.stage < e.prev_stage) AS moved_backwards,
           count(*) > bit_count(bit_or(CAST(1 AS INTEGER) << e.stage)) AS reentered,
           -- the stages strictly between two consecutive ones, as a mask
           coalesce(bit_or(CASE WHEN e.stage > e.prev_stage + 1
                                THEN (CAST(1 AS INTEGER) << e.stage) - (CAST(2 AS INTEGER) << e.prev_stage) END), 0)
               AS gap_mask,
    {_days_cols}
    FROM ordered e
    GROUP BY e.deal_id
),
facts AS (
SELECT d.deal_id, {_deal_cols}, d.history_truncated, d.created_at IS NOT NULL AS created_known,
       coalesce(p.n_events, 0) AS n_events,
       p.first_stage, p.first_stage_at,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) AND d.closed_at IS NOT NULL
            THEN greatest(p.last_stage_at, CAST(d.closed_at AS TIMESTAMP)) ELSE p.last_stage_at END AS last_stage_at,
       -- stage 8 is signed and kept: a lost deal whose history reaches 8 (a contract that fell through, Salesforce's
       -- Closed Won → Closed Lost) was lost at 7, in the funnel, the claim, the model and the forecast alike
       CASE WHEN d.outcome = 'won' THEN {LAST_STAGE} WHEN d.outcome = 'lost' THEN least(coalesce(p.last_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(p.last_stage, 1) END AS current_stage,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) THEN CAST(d.closed_at AS TIMESTAMP)
            ELSE p.last_stage_at END AS current_stage_entered_at,
       CASE WHEN d.outcome = 'won' THEN {LAST_STAGE} WHEN d.outcome = 'lost' THEN least(coalesce(p.max_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(p.max_stage, 1) END AS furthest_stage,
       coalesce(p.moved_backwards, false) AS moved_backwards,
       coalesce(p.reentered, false) AS reentered,
       p.positioned_moves,
       p.last_stage AS last_recorded_stage,
       -- history begins mid-way: flagged by the importer, or the first event long after the deal was created
       coalesce(p.first_stage > 1 AND (d.history_truncated
            OR p.first_stage_at > CAST(d.created_at AS TIMESTAMP) + to_days({int(LEFT_TRUNCATION_DAYS)})), false)
           AS left_truncated,
       -- the last recorded stay of a closed deal ends at its close (a date: a same-day close counts 0)
       {_last_stay},
       -- a deal closed before it was created (seen in real exports) has no cycle time: velocity counts them apart
       CASE WHEN d.closed_at IS NOT NULL AND d.outcome <> 'open' AND d.closed_at >= {_CREATED}
            THEN date_diff('day', {_CREATED}, d.closed_at) END AS cycle_days,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) AND p.last_stage < {LAST_STAGE - 1}
            THEN list_concat(coalesce(p.gap_stages, []), range(p.last_stage + 1, {LAST_STAGE}))
            ELSE coalesce(p.gap_stages, []) END AS gap_stages
FROM deals d LEFT JOIN (
    SELECT *, CASE WHEN gap_mask = 0 THEN [] ELSE list_filter(range(1, {LAST_STAGE}), lambda s: (gap_mask >> s) & 1 = 1)
              END AS gap_stages
    FROM per_deal) p USING (deal_id) /*deals*/
),
shaped AS (
SELECT * EXCLUDE (gap_stages),
       -- stages jumped over; a history that starts mid-way has unobserved, not skipped, early stages
       CASE WHEN first_stage > 1 AND NOT left_truncated THEN list_concat(range(1, first_stage), gap_stages)
            ELSE gap_stages END AS skipped_stages,
       NOT moved_backwards AND NOT reentered AND len(gap_stages) = 0
           AND (coalesce(first_stage, 1) = 1 OR left_truncated) AS in_order
FROM facts
)
-- an in-order history's moves follow from its first and last stage: they are kept only for the others.
-- Stored grouped by outcome: most analyses read won, lost or open deals only, and skip the other row groups.
SELECT * EXCLUDE (positioned_moves),
       CASE WHEN NOT in_order THEN list_transform(list_sort(positioned_moves), lambda m: CAST(m % 100 AS TINYINT)) END AS moves
FROM shaped ORDER BY outcome
"""
def deal_facts_sql(temp: bool = False) -> str:
    """The statement that (re)builds deal_facts; `temp`: as a temp table of this connection, which shadows the
    stored one (Store.as_of)."""
    return f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE deal_facts AS" + _DEAL_FACTS_QUERY


DEAL_FACTS_SQL = deal_facts_sql()


def _deal_facts_of(affected: str) -> str:
    """The facts query for the deals listed in temp table `affected` (a deal_id column) only."""
    only = f"deal_id IN (SELECT deal_id FROM {affected})"
    return _DEAL_FACTS_QUERY.replace("/*events*/", f"WHERE e.{only}").replace("/*deals*/", f"WHERE d.{only}")



# Durations of closed deals, one row per deal and measure (days in stages 1-7; measure 0 is the cycle time), with
# the columns DealFilter reads (filters.FILTERED_COLUMNS), stored sorted. Velocity's exact quantiles select order
# statistics from every value; from values that arrive in order that takes half the time it takes from the wide
# deal_facts columns (47-63 ms instead of 101-115 ms for the 4.1M values of 1M deals, docs/performance-misses.md).
CYCLE_MEASURE = 0
DURATION_MEASURES: dict[int, str] = {CYCLE_MEASURE: "cycle_days",
                                     **{n: STAGE_DAY_COLUMNS[n - 1] for n in STAGE_NUMBERS if n < LAST_STAGE}}
# deal_key, the hash of deal_id (8 bytes: the text itself cost 0.5 s more to store at 1M), finds a deal's rows when
# only some deals' durations are recomputed; a deal whose key collides with one of theirs is recomputed too.
_durations = "\nUNION ALL\n".join(
    f"""SELECT outcome = 'won' AS won, CAST({measure} AS TINYINT) AS measure, CAST({column} AS DOUBLE) AS days,
       {', '.join(FILTERED_COLUMNS)}, hash(deal_id) AS deal_key
FROM deal_facts WHERE outcome <> 'open' AND {column} IS NOT NULL /*only*/"""
    for measure, column in DURATION_MEASURES.items())
def stage_durations_sql(temp: bool = False) -> str:
    """The statement that (re)builds stage_durations from deal_facts; `temp` as deal_facts_sql's."""
    return f"""
CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE stage_durations AS
{_durations}
ORDER BY won, measure, days
"""


STAGE_DURATIONS_SQL = stage_durations_sql()


def _stage_durations_of(keys: str) -> str:
    """The durations of the deals whose deal_key is in temp table `keys`."""
    return _durations.replace("/*only*/", f"AND hash(deal_id) IN (SELECT deal_key FROM {keys})")
