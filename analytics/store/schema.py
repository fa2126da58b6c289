"""The database's tables and their migrations: what a keyfunnel database holds, and how an older one is brought up to date.

Migrations are named, ordered and run once each (Store.migrate records them in schema_migrations). The derived
tables (deal_facts, stage_durations: analytics.store.facts) are not migrated: they are rebuilt whenever
DERIVED_VERSION changes."""

from __future__ import annotations

from analytics.domain import FACTOR_KEYS, STAGE_NUMBERS

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
    # A deal's expected close and amount as they changed: one row per change of one field, from that moment on
    # (a stage history's optional columns, Salesforce's OpportunityHistory, a snapshot series). deals keeps the
    # latest values; these are what they were before.
    ("010_deal_changes", """
CREATE TABLE deal_changes (
    deal_id VARCHAR NOT NULL,
    field VARCHAR NOT NULL CHECK (field IN ('expected_close', 'amount')),
    changed_at TIMESTAMP NOT NULL,
    expected_close DATE,
    amount DOUBLE CHECK (amount >= 0),
    batch_id INTEGER NOT NULL,
    CHECK ((field = 'expected_close') = (expected_close IS NOT NULL)),
    CHECK ((field = 'amount') = (amount IS NOT NULL))
);
ALTER TABLE import_batches ADD COLUMN changes_added INTEGER;
"""),
    # ... and its outcome as it changed: a deal lost, then reopened (a stage history's optional outcome column, a
    # snapshot series). deals keeps the latest outcome; the waterfall reads these to count a reopened deal.
    ("011_outcome_changes", """
ALTER TABLE deal_changes RENAME TO deal_changes_010;
CREATE TABLE deal_changes (
    deal_id VARCHAR NOT NULL,
    field VARCHAR NOT NULL CHECK (field IN ('expected_close', 'amount', 'outcome')),
    changed_at TIMESTAMP NOT NULL,
    expected_close DATE,
    amount DOUBLE CHECK (amount >= 0),
    outcome VARCHAR CHECK (outcome IN ('won', 'lost', 'open')),
    batch_id INTEGER NOT NULL,
    CHECK ((field = 'expected_close') = (expected_close IS NOT NULL)),
    CHECK ((field = 'amount') = (amount IS NOT NULL)),
    CHECK ((field = 'outcome') = (outcome IS NOT NULL))
);
INSERT INTO deal_changes (deal_id, field, changed_at, expected_close, amount, batch_id)
    SELECT deal_id, field, changed_at, expected_close, amount, batch_id FROM deal_changes_010;
DROP TABLE deal_changes_010;
"""),
    # Plans: each owner's, team's or region's target for a quarter or a month, which team an owner is in, and the
    # forecast calls people make. A later batch's target for the same period and unit supersedes an earlier one,
    # and undo removes a batch's rows (analytics.store.plans reads the latest). Calls are never edited: a later
    # call for the same period and unit supersedes, and every call stays (a call typed in has no batch).
    ("012_targets_teams_calls", """
CREATE TABLE targets (
    period VARCHAR NOT NULL,
    unit_kind VARCHAR NOT NULL CHECK (unit_kind IN ('owner', 'team', 'region')),
    unit VARCHAR NOT NULL,
    target DOUBLE NOT NULL CHECK (target >= 0),
    batch_id INTEGER NOT NULL
);
CREATE TABLE team_members (owner VARCHAR NOT NULL, team VARCHAR NOT NULL, manager VARCHAR, batch_id INTEGER NOT NULL);
CREATE SEQUENCE call_id_seq START 1;
CREATE TABLE forecast_calls (
    call_id INTEGER PRIMARY KEY,
    period VARCHAR NOT NULL,
    unit_kind VARCHAR NOT NULL CHECK (unit_kind IN ('owner', 'team')),
    unit VARCHAR NOT NULL,
    commit_amount DOUBLE NOT NULL CHECK (commit_amount >= 0),
    best_case DOUBLE NOT NULL CHECK (best_case >= commit_amount),
    note VARCHAR,
    entered_by VARCHAR,
    called_at TIMESTAMP NOT NULL,
    entered_at TIMESTAMP NOT NULL,
    batch_id INTEGER
);
"""),
    # Results live beside the database now, in <db>.results.sqlite (analytics.store.cache): readers compute them,
    # and readers never write the database (analytics.store.turns).
    ("013_results_beside_the_database", "DROP TABLE IF EXISTS result_cache;"),
)
# the fields deal_changes records, each in the column of its name
CHANGE_FIELDS = ("expected_close", "amount", "outcome")
# Bumped whenever DEAL_FACTS_SQL, STAGE_DURATIONS_SQL or DEAL_SPANS_SQL changes what they compute: a database built
# by an older keyfunnel then has the three tables rebuilt once, on its first open for writing.
DERIVED_VERSION = ("2026-12-03 name, creation inferred from the first stage event, a lost deal's stage at most 7; "
                   "each deal's pushes, two changes at one moment in date order; the spans of each recorded value "
                   "(deal_spans)")
