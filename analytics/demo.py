"""Demo data: a fresh database is built from the sample CSVs shipped in data/demo/, and marked as demo data."""

from __future__ import annotations

from pathlib import Path

from .importer import ImportResult, import_files
from .store import Store

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
DEMO_SETTING = "demo_data"


def is_demo(store: Store) -> bool:
    return store.get_setting(DEMO_SETTING) == "1"


def ensure_demo_data(store: Store, demo_dir: Path = DEMO_DIR) -> ImportResult | None:
    """On first run (no batch ever imported), import the shipped sample and mark the database as demo data."""
    if store.scalar("SELECT count(*) FROM import_batches") or not (demo_dir / "deals.csv").exists():
        return None
    result = import_files(store, demo_dir / "deals.csv", demo_dir / "stage_history.csv")
    if result.status == "imported":
        store.set_setting(DEMO_SETTING, "1")
    return result


def clear_demo_data(store: Store) -> None:
    """Remove the demo data and everything about it; the database is then empty and stays so."""
    with store.transaction():
        for table in ("stage_events", "deals", "deal_previous", "batch_deals", "rejected_rows", "import_warnings"):
            store.execute(f"DELETE FROM {table}")
        store.execute("UPDATE import_batches SET status = 'undone', undone_at = now() WHERE status = 'imported'")
        store.set_setting(DEMO_SETTING, None)
        store.refresh_deal_facts()
