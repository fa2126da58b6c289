"""Downloadable CSV templates of the canonical formats, with English or Chinese headers."""

from __future__ import annotations

import csv
import io

from analytics.ingest.headers import (
    DEAL_HEADERS_ZH,
    HISTORY_CHANGE_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_HEADERS_ZH,
)
from analytics.ingest.plans import PLAN_HEADERS_ZH
from analytics.store.schema import DEAL_COLUMNS

_DEAL_EXAMPLE = ["D-0001", "华东电力集团", "A", "张伟", "East", "Energy", "1,250,000", "CNY", "2026-03-02",
                 "2026-09-30", "", "open", "", "4", "3", "4", "5", "4", "4", "3", "4", "4"]
# the optional expected_close, amount and outcome: the values from that row's date on; a row without a stage changes
# them alone (here D-0002 was lost, then reopened)
_HISTORY_EXAMPLE = [["D-0001", "1", "2026-03-02", "2026-09-30", "1,000,000", ""],
                    ["D-0001", "2", "2026-03-20", "", "", ""],
                    ["D-0001", "", "2026-04-02", "2026-12-15", "", ""],
                    ["D-0001", "3", "2026-04-15", "", "1,250,000", ""],
                    ["D-0002", "1", "2026-02-01", "2026-06-30", "400,000", ""],
                    ["D-0002", "", "2026-03-10", "", "", "lost"],
                    ["D-0002", "", "2026-05-04", "", "", "open"]]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # a BOM, so that Excel opens the Chinese correctly


def deals_template(lang: str = "en") -> bytes:
    zh = {v: k for k, v in DEAL_HEADERS_ZH.items()}
    header = [zh[c] if lang == "zh" else c for c in DEAL_COLUMNS]
    return _csv(header, [_DEAL_EXAMPLE])


def history_template(lang: str = "en") -> bytes:
    zh = {v: k for k, v in HISTORY_HEADERS_ZH.items()}
    header = [zh[c] if lang == "zh" else c for c in (*HISTORY_COLUMNS, *HISTORY_CHANGE_COLUMNS)]
    return _csv(header, _HISTORY_EXAMPLE)


# plans: the first Chinese name of each column (PLAN_HEADERS_ZH lists synonyms too)
_PLAN_ZH = {v: k for k, v in reversed(list(PLAN_HEADERS_ZH.items()))}
_TARGETS_EXAMPLE = [["2026Q4", "张伟", "East team", "", "", "3,000,000"],
                    ["2026Q4", "李娜", "East team", "", "", "2,500,000"],
                    ["2026Q4", "", "East team", "", "", "6,000,000"],
                    ["2026-11", "", "", "", "East", "1,200,000"]]
_TEAMS_EXAMPLE = [["张伟", "East team", "王芳"], ["李娜", "East team", "王芳"]]
_CALLS_EXAMPLE = [["2026Q4", "张伟", "2,800,000", "3,400,000", "two deals in legal review", "王芳", "2026-09-29"],
                  ["2026Q4", "张伟", "3,000,000", "3,500,000", "", "王芳", "2026-10-20"]]


def _plan_template(columns: tuple[str, ...], rows: list[list[str]], lang: str) -> bytes:
    return _csv([_PLAN_ZH[c] if lang == "zh" else c for c in columns], rows)


def targets_template(lang: str = "en") -> bytes:
    """Targets: an owner's row may name their team (and manager); a team's or a region's row has no owner."""
    return _plan_template(("period", "owner", "team", "manager", "region", "target"),
                          [[r[0], r[1], r[2], "王芳" if r[1] else "", r[4], r[5]] for r in _TARGETS_EXAMPLE], lang)


def teams_template(lang: str = "en") -> bytes:
    return _plan_template(("owner", "team", "manager"), _TEAMS_EXAMPLE, lang)


def calls_template(lang: str = "en") -> bytes:
    return _plan_template(("period", "owner", "commit", "best_case", "note", "entered_by", "called_at"),
                          _CALLS_EXAMPLE, lang)
