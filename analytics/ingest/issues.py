"""What an import reports: each problem with a cell (RowIssue: file, spreadsheet row, column, value, reason) and the
outcome of a batch (ImportResult), in the words the CLI prints and the app translates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from analytics.ingest.csvsource import CsvSource
from analytics.messages import Message, say

Progress = Callable[[float, Message], None]  # (fraction done, the step)


@dataclass(frozen=True)
class RowIssue:
    """One problem with one cell: an error rejects the row, a warning only flags it."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    problem: Message

    @property
    def reason(self) -> str:
        """The problem in English, as the CLI prints it."""
        return str(self.problem)

    @property
    def code(self) -> str:
        return self.problem.code

    def to_json(self) -> dict:
        return {"file": self.file, "row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason, "code": self.code, "params": dict(self.problem.params)}


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
    outcome: Message | None = None
    field_changes: int = 0  # close-date and amount changes added

    @classmethod
    def rejected(cls, files: list[str], fmt: str | None, errors: list[RowIssue], warnings: list[RowIssue] = (),
                 outcome: Message | None = None) -> ImportResult:
        """Nothing written: every error, the rows they are on, and why."""
        rows = len({(e.file, e.row) for e in errors if e.row is not None})  # not a missing file's "row"
        return cls("rejected", None, fmt, files, rejected_rows=rows, warnings=list(warnings), errors=errors,
                   outcome=outcome or say("rejected", problems=len(errors), rows=rows))

    @property
    def message(self) -> str:
        """The outcome in English, as the CLI prints it."""
        return str(self.outcome) if self.outcome is not None else ""

    @property
    def deals(self) -> int:
        return self.deals_inserted + self.deals_updated

    def to_json(self) -> dict:
        return {
            "batch_id": self.batch_id, "status": self.status, "format": self.format, "files": self.files,
            "deals": self.deals, "deals_inserted": self.deals_inserted, "deals_updated": self.deals_updated,
            "stage_events": self.stage_events, "field_changes": self.field_changes,
            "rejected_rows": self.rejected_rows,
            "warnings": [w.to_json() for w in self.warnings], "errors": [e.to_json() for e in self.errors],
            "message": self.message, "message_code": self.outcome.code if self.outcome is not None else None,
        }


def cleaned_cell_warnings(source: CsvSource) -> list[RowIssue]:
    """A warning for each cell whose stray NUL bytes or control characters open_csv removed."""
    return [RowIssue(source.name, row, column, clip_value(value), say("control_removed"))
            for row, column, value in source.cleaned]



def clip_value(value, limit: int = 200):
    """A cell's value as a report shows it: at most `limit` characters."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
