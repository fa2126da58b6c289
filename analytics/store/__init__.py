"""The store: the one layer that opens DuckDB; its schema, the derived per-deal tables, results kept, backups."""
