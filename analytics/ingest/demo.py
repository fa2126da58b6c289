"""Demo data: a fresh database is built from the sample CSVs shipped in data/demo/, and marked as demo data."""

from __future__ import annotations

from pathlib import Path

from analytics.ingest.canonical import import_files
from analytics.ingest.issues import ImportResult
from analytics.ingest.plans import import_plans
from analytics.store.connection import Store

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"  # the checkout's data/demo
DEMO_SETTING = "demo_data"
DEMO_PLANS_SETTING = "demo_plans"  # the batch of the demo's targets, teams and calls
PLAN_FILES = ("teams.csv", "targets.csv", "calls.csv")


def demo_batch(store: Store) -> int | None:
    """The batch that imported the demo sample, while it is in the database. (The setting holds its id; databases
    from before kept "1", which was the demo's batch id too: it is the first import of a new database.)"""
    value = store.get_setting(DEMO_SETTING)
    return int(value) if value and value.isdigit() else None


def is_demo(store: Store) -> bool:
    return demo_batch(store) is not None


def wants_demo_data(store: Store, demo_dir: Path = DEMO_DIR) -> bool:
    """A first run: no batch ever imported, and the checkout ships the sample."""
    return not store.scalar("SELECT count(*) FROM import_batches") and (demo_dir / "deals.csv").exists()


def ensure_demo_data(store: Store, demo_dir: Path = DEMO_DIR) -> ImportResult | None:
    """On first run (no batch ever imported), import the shipped sample and mark the database as demo data."""
    if not wants_demo_data(store, demo_dir):
        return None
    result = import_files(store, demo_dir / "deals.csv", demo_dir / "stage_history.csv")
    if result.status == "imported":
        store.set_setting(DEMO_SETTING, str(result.batch_id))
        plans = [demo_dir / name for name in PLAN_FILES if (demo_dir / name).exists()]
        if plans:
            store.set_setting(DEMO_PLANS_SETTING, str(import_plans(store, plans).batch_id))
    return result


def clear_demo_data(store: Store) -> None:
    """Undo the demo's batch, exactly as `keyfunnel undo` would: the user's own batches stay. (It used to empty
    every table, the user's imports with the demo's.) Raises UndoError when a later batch changed demo deals."""
    from analytics.ingest.batches import undo_batch

    batch = demo_batch(store)
    if batch is None:
        return
    plans = store.get_setting(DEMO_PLANS_SETTING)
    if plans and plans.isdigit() and store.scalar("SELECT status FROM import_batches WHERE batch_id = ?",
                                                  [int(plans)]) == "imported":
        undo_batch(store, int(plans))
    store.set_setting(DEMO_PLANS_SETTING, None)
    if store.scalar("SELECT status FROM import_batches WHERE batch_id = ?", [batch]) == "imported":
        undo_batch(store, batch)
    store.set_setting(DEMO_SETTING, None)
