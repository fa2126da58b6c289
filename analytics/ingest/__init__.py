"""Getting data in: canonical CSV and workbooks, and CRM exports (ingest.crm), each import one batch, undoable."""
