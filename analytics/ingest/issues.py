"""What an import reports: each problem with a cell (RowIssue: file, spreadsheet row, column, value, reason) and the
outcome of a batch (ImportResult), in the words the CLI prints and the app translates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from analytics.ingest.csvsource import CsvSource

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RowIssue:
    """One problem with one cell: an error rejects the row, a warning only flags it."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str


@dataclass
class ImportResult:
    status: str  # imported | unchanged | rejected
    batch_id: int | None
    format: str | None
    files: list[str]
    deals_inserted: int = 0
    deals_updated: int = 0
    stage_events: int = 0
    rejected_rows: int = 0
    warnings: list[RowIssue] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)
    message: str = ""
    field_changes: int = 0  # close-date and amount changes added

    @classmethod
    def rejected(cls, files: list[str], fmt: str | None, errors: list[RowIssue], warnings: list[RowIssue] = (),
                 message: str | None = None) -> ImportResult:
        """Nothing written: every error, the rows they are on, and why."""
        rows = len({(e.file, e.row) for e in errors if e.row is not None})  # not a missing file's "row"
        where = f" in {counted(rows, 'row')}" if rows else ""
        return cls("rejected", None, fmt, files, rejected_rows=rows, warnings=list(warnings), errors=errors,
                   message=message or f"rejected: {counted(len(errors), 'problem')}{where}; the database is unchanged")

    @property
    def deals(self) -> int:
        return self.deals_inserted + self.deals_updated

    def to_json(self) -> dict:
        return {
            "batch_id": self.batch_id, "status": self.status, "format": self.format, "files": self.files,
            "deals": self.deals, "deals_inserted": self.deals_inserted, "deals_updated": self.deals_updated,
            "stage_events": self.stage_events, "field_changes": self.field_changes,
            "rejected_rows": self.rejected_rows,
            "warnings": [asdict(w) for w in self.warnings], "errors": [asdict(e) for e in self.errors],
            "message": self.message,
        }


CONTROL_REMOVED = "NUL bytes or control characters removed from the value"


def cleaned_cell_warnings(source: CsvSource) -> list[RowIssue]:
    """A warning for each cell whose stray NUL bytes or control characters open_csv removed."""
    return [RowIssue(source.name, row, column, clip_value(value), CONTROL_REMOVED)
            for row, column, value in source.cleaned]


def counted(n: int, noun: str) -> str:
    """'1 row', '3 rows': how reports count things."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def clip_value(value, limit: int = 200):
    """A cell's value as a report shows it: at most `limit` characters."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
