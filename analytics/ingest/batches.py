"""Import batches: the list of what was imported, and undo, which restores the database exactly as it was before a
batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from analytics.exceptions import UndoError
from analytics.messages import say
from analytics.store.connection import Store


@dataclass(frozen=True)
class Batch:
    batch_id: int
    status: str
    format: str
    files: list[str]
    file_sha256: list[str]
    rows_read: int
    deals_inserted: int
    deals_updated: int
    stage_events_added: int
    rows_rejected: int
    warnings: int
    started_at: datetime
    finished_at: datetime
    undone_at: datetime | None
    file_rows: list[int] | None = None  # rows read from each of `files`, in order (None: before schema 009)
    changes_added: int | None = None  # close-date and amount changes (None: before schema 010)

    def to_json(self) -> dict:
        out = asdict(self)
        for k in ("started_at", "finished_at", "undone_at"):
            out[k] = out[k].isoformat(timespec="seconds") if out[k] else None
        return out


def list_batches(store: Store) -> list[Batch]:
    return [Batch(**row) for row in store.fetch_dicts("SELECT * FROM import_batches ORDER BY batch_id")]


def undo_batch(store: Store, batch_id: int) -> Batch:
    """Remove exactly what a batch added or changed, restoring each deal as it was before the batch."""
    status = store.scalar("SELECT status FROM import_batches WHERE batch_id = ?", [batch_id])
    if status is None:
        raise UndoError(say("no_batch", batch=batch_id))
    if status == "undone":
        raise UndoError(say("batch_undone", batch=batch_id))
    later = store.fetchall("""
        SELECT DISTINCT later FROM (
            SELECT b.batch_id AS later FROM batch_deals b
            WHERE b.batch_id > $b AND b.deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b)
            UNION ALL
            SELECT e.batch_id FROM stage_events e
            WHERE e.batch_id > $b AND e.deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b
                                                    AND action = 'insert')
            UNION ALL
            SELECT c.batch_id FROM deal_changes c
            WHERE c.batch_id > $b AND c.deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b
                                                    AND action = 'insert'))
        WHERE later IN (SELECT batch_id FROM import_batches WHERE status = 'imported') ORDER BY later""",
                           {"b": batch_id})
    if later:
        names = ", ".join(str(r[0]) for r in later)
        raise UndoError(say("batch_blocked", batch=batch_id, later=names))
    with store.transaction():
        b = {"b": batch_id}
        # the deals whose facts change: the batch's own, and those it only added stage events or changes to
        store.execute("CREATE OR REPLACE TEMP TABLE kf_undone AS SELECT deal_id FROM batch_deals WHERE batch_id = $b "
                      "UNION SELECT deal_id FROM stage_events WHERE batch_id = $b "
                      "UNION SELECT deal_id FROM deal_changes WHERE batch_id = $b", b)
        store.execute("DELETE FROM stage_events WHERE batch_id = $b", b)
        store.execute("DELETE FROM deal_changes WHERE batch_id = $b", b)
        for plans in ("targets", "team_members", "forecast_calls"):  # a plans batch: its rows (fixed names)
            store.execute(f"DELETE FROM {plans} WHERE batch_id = $b", b)
        store.execute("DELETE FROM deals WHERE deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b)", b)
        store.execute("INSERT INTO deals SELECT * EXCLUDE (overwritten_by) FROM deal_previous "
                      "WHERE overwritten_by = $b", b)
        store.execute("DELETE FROM deal_previous WHERE overwritten_by = $b", b)
        store.execute("UPDATE import_batches SET status = 'undone', undone_at = now() WHERE batch_id = $b", b)
        store.refresh_deal_facts("kf_undone")
    store.execute("DROP TABLE IF EXISTS kf_undone")
    return next(x for x in list_batches(store) if x.batch_id == batch_id)
