"""What a set of files is, decided once for the CLI and the Import page alike: each file a canonical deals file (or a
wide one), a stage history, or part of a CRM export; and so which importer takes them."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.ingest.crm.source import is_canonical
from analytics.ingest.headers import classify_header
from analytics.ingest.plans import plan_kind


def file_kind(header: list[str]) -> str:
    """'deals', 'wide' or 'history' for a file the canonical importer takes, 'plans' for targets, teams or calls,
    else 'crm'."""
    if plan_kind(header) is not None:
        return "plans"
    return classify_header(header) if is_canonical(header) else "crm"


@dataclass(frozen=True)
class Route:
    kinds: dict[str, str]  # each file, in the order given → its file_kind
    deals: str | None  # the first canonical deals (or wide) file
    history: str | None  # the first stage history
    crm: list[str]  # the files a CRM import takes: every one when a profile is named
    plans: list[str]  # targets, teams and calls files (analytics.ingest.plans)

    @property
    def canonical_files(self) -> list[str]:
        return [f for f, kind in self.kinds.items() if kind not in ("crm", "plans")]


def route(headers: dict[str, list[str]], profile_named: bool = False) -> Route:
    """`headers`: each file's header row. With a profile named, every file is read through it (a CRM import);
    otherwise the files a preset or the generic mapping would take go to the CRM import, and the canonical ones to
    the canonical importer."""
    kinds = {name: file_kind(header) for name, header in headers.items()}
    plans = [name for name, kind in kinds.items() if kind == "plans"] if not profile_named else []
    crm = list(headers) if profile_named else [name for name, kind in kinds.items() if kind == "crm"]
    deals = next((name for name, kind in kinds.items() if kind in ("deals", "wide")), None)
    history = next((name for name, kind in kinds.items() if kind == "history"), None)
    return Route(kinds, deals, history, crm, plans)
