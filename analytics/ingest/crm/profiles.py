"""Mapping profiles: how one CRM's export maps onto keyfunnel's deals and eight stages.

A profile names a preset (the shape of the export: salesforce, hubspot, dynamics365, snapshots) and maps
- source columns to fields (`columns`: field → header, or a list of headers tried in order),
- source stage names to stages 1–8, or to won / lost (`stages`),
- source outcome or status values to won / lost / open (`outcomes`),
- the date order, the decimal mark, the reporting currency and a rate table (`rates`: 1 unit = rate × reporting).

The four presets below are the documented defaults (docs/crm-exports.md). A saved profile is a JSON or TOML file;
it only needs what differs from its preset: `{"preset": "salesforce", "stages": {"Negociación": 7}}`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from analytics.domain import (
    FACTOR_KEYS,
    LOST,
    OPEN,
    OUTCOME_ALIASES,
    STAGE_ALIASES,
    WON,
    normalise_label,
)
from analytics.exceptions import KeyfunnelError
from analytics.messages import say

PRESET_NAMES = ("salesforce", "hubspot", "dynamics365", "snapshots", "generic")
DATE_ORDERS = ("auto", "YMD", "MDY", "DMY")
StageTarget = int | str  # 1–8, or "won" / "lost"


class ProfileError(KeyfunnelError):
    """A profile file is missing, unreadable or maps something to a value that does not exist."""


def header_key(text: str) -> str:
    """Header form used for matching: Unicode-normalised, case-, space- and BOM-insensitive."""
    text = unicodedata.normalize("NFKC", text).lstrip("\ufeff")
    return " ".join(text.strip().strip('"').casefold().split())


def _zh_headers() -> dict[str, str]:
    from analytics.ingest.headers import DEAL_HEADERS_ZH

    return {v: k for k, v in DEAL_HEADERS_ZH.items()}


# Fields every preset accepts under their canonical names (and Chinese headers) as well as the preset's own.
_GENERIC_FIELDS = ("name", "account", "tier", "owner", "region", "industry", "currency", "lost_reason", *FACTOR_KEYS)


@dataclass(frozen=True)
class MappingProfile:
    name: str
    preset: str
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    stages: dict[str, StageTarget] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    date_order: str = "auto"
    decimal_mark: str = "."
    currency: str | None = None
    rates: dict[str, float] = field(default_factory=dict)
    # Source headers whose values identify a deal when the export has no ID column (default: the deal's name,
    # account and creation date, as mapped): docs/crm-exports.md, "No ID column".
    key_columns: tuple[str, ...] = ()

    def headers_for(self, field_name: str) -> tuple[str, ...]:
        """Candidate source headers for a field: the profile's own, then the canonical name and Chinese header.
        A field mapped to no header (`columns.product = []`) is unmapped: no column is taken for it."""
        if field_name in self.columns and not self.columns[field_name]:
            return ()
        own = self.columns.get(field_name, ())
        if field_name in _GENERIC_FIELDS or field_name in ("deal_id", "amount", "created_at"):
            zh = _zh_headers().get(field_name)
            return (*own, field_name, *((zh,) if zh else ()))
        return own

    def stage_for(self, label: str) -> StageTarget | None:
        """The stage (1–8, won, lost) a source stage name maps to, or None when it is unmapped."""
        key = normalise_label(label)
        found = _normalised_keys(self.stages).get(key)
        if found is None and " (" in label and label.endswith(")"):
            # HubSpot qualifies stage names with their pipeline: "Closed Won (Sales Pipeline)"
            found = _normalised_keys(self.stages).get(normalise_label(label.rsplit(" (", 1)[0]))
        return found

    def outcome_for(self, value: str) -> str | None:
        key = normalise_label(value)
        return _normalised_keys(self.outcomes).get(key) or OUTCOME_ALIASES.get(key)

    def to_json(self) -> dict:
        return {"name": self.name, "preset": self.preset,
                "columns": {k: list(v) for k, v in self.columns.items()},
                "stages": dict(self.stages), "outcomes": dict(self.outcomes), "date_order": self.date_order,
                "decimal_mark": self.decimal_mark, "currency": self.currency, "rates": dict(self.rates),
                "key_columns": list(self.key_columns)}


# The fields a mapping form offers, in the order it offers them (a preset's own fields follow).
FORM_FIELDS = ("deal_id", "name", "account", "stage", "outcome", "amount", "currency", "created_at",
               "expected_close", "closed_at", "owner", "region", "industry", "tier", "lost_reason", *FACTOR_KEYS)


def edited_profile(profile: MappingProfile, *, columns: dict[str, str | None] = {},
                   stages: dict[str, StageTarget | None] = {}, **settings) -> MappingProfile:
    """The profile as a mapping form edited it: each field in `columns` taken from that header, or unmapped
    (None); stage names mapped anew (None: unmapped); `settings` (date_order, decimal_mark, currency, rates)
    replaced as given."""
    mapped = {**profile.columns, **{f: (h,) if h else () for f, h in columns.items()}}
    return replace(mapping_with(profile, stages), columns=mapped, **settings)


def mapping_with(profile: MappingProfile, stages: dict[str, StageTarget | None]) -> MappingProfile:
    """The profile with these source stage names mapped anew; None removes a name's mapping."""
    changed = {normalise_label(label) for label in stages}
    kept = {k: v for k, v in profile.stages.items() if normalise_label(k) not in changed}
    return replace(profile, stages={**kept, **{k: v for k, v in stages.items() if v is not None}})


def _normalised_keys(mapping: dict) -> dict:
    return {normalise_label(k): v for k, v in mapping.items()}


_SALESFORCE = MappingProfile(
    name="salesforce", preset="salesforce",
    columns={
        "deal_id": ("Id", "Opportunity ID", "OpportunityId"),
        "name": ("Name", "Opportunity Name"),
        "account": ("Account Name", "Account.Name", "AccountId", "Account ID"),
        "owner": ("Owner Name", "Opportunity Owner", "Owner.Name", "OwnerId", "Owner ID"),
        "amount": ("Amount",),
        "currency": ("CurrencyIsoCode", "Opportunity Currency", "Amount Currency"),
        "created_at": ("CreatedDate", "Created Date"),
        "close_date": ("CloseDate", "Close Date"),
        "stage": ("StageName", "Stage"),
        "is_closed": ("IsClosed", "Closed"),
        "is_won": ("IsWon", "Won"),
        "stage_changed_at": ("LastStageChangeDate", "Last Stage Change Date"),
        "region": ("Region__c", "Region", "Sales Region"),
        "industry": ("Industry", "Account.Industry", "Account Industry"),
        "tier": ("Tier__c", "Account Tier"),
        "lost_reason": ("Loss_Reason__c", "Loss Reason", "Lost Reason"),
        "history_deal_id": ("OpportunityId", "Opportunity ID"),
        "history_stage": ("StageName", "Stage", "To Stage"),
        "history_at": ("CreatedDate", "Created Date", "Edit Date", "Last Modified"),
        # OpportunityHistory's CloseDate and Amount: the deal's expected close and amount from that row on
        "history_close_date": ("CloseDate", "Close Date"),
        "history_amount": ("Amount",),
    },
    # Folded onto our stages as the CRM default probabilities are (analytics/domain.py, docs/metrics.md).
    stages={"Prospecting": 1, "Qualification": 2, "Needs Analysis": 3, "Value Proposition": 4,
            "Id. Decision Makers": 5, "Perception Analysis": 6, "Proposal/Price Quote": 6,
            "Negotiation/Review": 7, "Closed Won": WON, "Closed Lost": LOST},
)

_HUBSPOT = MappingProfile(
    name="hubspot", preset="hubspot",
    columns={
        "deal_id": ("Record ID", "Deal ID", "hs_object_id"),
        "name": ("Deal Name", "dealname"),
        "account": ("Associated Company (Primary)", "Associated Company", "Company name", "Company"),
        "owner": ("Deal owner", "HubSpot Owner"),
        "amount": ("Amount",),
        "currency": ("Currency", "Deal currency code"),
        "created_at": ("Create Date", "Created Date"),
        "close_date": ("Close Date",),
        "stage": ("Deal Stage",),
        "pipeline": ("Pipeline",),
        "lost_reason": ("Closed Lost Reason",),
    },
    # HubSpot's default sales pipeline, folded as its default probabilities are.
    stages={"Appointment Scheduled": 1, "Qualified To Buy": 3, "Presentation Scheduled": 5,
            "Decision Maker Bought-In": 6, "Contract Sent": 7, "Closed Won": WON, "Closed Lost": LOST},
)

_DYNAMICS = MappingProfile(
    name="dynamics365", preset="dynamics365",
    columns={
        "deal_id": ("(Do Not Modify) Opportunity", "Opportunity ID", "opportunityid"),
        "name": ("Topic", "Name", "Opportunity"),
        "account": ("Potential Customer", "Account", "Customer"),
        "owner": ("Owner",),
        "amount": ("Est. Revenue", "Estimated Revenue"),
        "actual_revenue": ("Actual Revenue",),
        "currency": ("Currency",),
        "created_at": ("Created On",),
        "modified_at": ("Modified On", "(Do Not Modify) Modified On"),
        "expected_close": ("Est. Close Date", "Estimated Close Date"),
        "actual_close": ("Actual Close Date",),
        "status": ("Status",),
        "status_reason": ("Status Reason",),
        "stage": ("Sales Stage", "Pipeline Phase"),
    },
    stages={"Qualify": 1, "Develop": 3, "Propose": 5, "Close": 7,
            "1-Qualify": 1, "2-Develop": 3, "3-Propose": 5, "4-Close": 7},
    outcomes={"Open": OPEN, "Won": WON, "Lost": LOST},
)

_SNAPSHOTS = MappingProfile(
    name="snapshots", preset="snapshots",
    columns={
        "deal_id": ("deal_id", "商机编号", "Id", "Opportunity ID", "Deal ID", "Record ID"),
        "name": ("name", "商机名称", "Opportunity Name", "Deal Name"),
        "stage": ("stage", "阶段", "current_stage", "StageName", "Stage", "Deal Stage"),
        "snapshot_date": ("snapshot_date", "snapshot", "as_of", "快照日期", "Snapshot Date"),
        "amount": ("amount", "金额", "Amount"),
        "created_at": ("created_at", "创建日期", "CreatedDate", "Created Date", "Create Date"),
        "close_date": ("closed_at", "关闭日期", "CloseDate", "Close Date"),
        "outcome": ("outcome", "结果"),
    },
    # Snapshots of our own canonical stage field: 1–8, the stage key, or its English or Chinese name.
    stages={**{label: number for label, number in STAGE_ALIASES.items()}, "won": WON, "lost": LOST,
            "赢单": WON, "丢单": LOST},
)

# Any current-stage export (a stage or an outcome column, one row per deal), optionally with a stage history file:
# the headers English and Chinese CRMs use for each field, and the stage names they share. What it does not know
# is mapped in a profile; `keyfunnel inspect FILE` suggests one (analytics.suggest).
_GENERIC = MappingProfile(
    name="generic", preset="generic",
    columns={
        "deal_id": ("deal_id", "Deal ID", "Opportunity ID", "opportunity_id", "Record ID", "Id", "ID", "商机编号",
                    "商机ID", "机会编号", "编号"),
        "name": ("name", "Deal Name", "Opportunity Name", "Opportunity", "Topic", "Deal", "商机名称", "机会名称",
                 "项目名称", "名称"),
        "account": ("account", "Account Name", "Account", "Company", "Company Name", "Customer", "Client",
                    "客户", "客户名称", "公司", "公司名称"),
        "owner": ("owner", "Owner", "Deal Owner", "Opportunity Owner", "sales_agent", "Sales Agent", "Sales Rep",
                  "负责人", "销售", "销售负责人", "所有人", "销售人员"),
        "stage": ("stage", "deal_stage", "Deal Stage", "Stage", "StageName", "Sales Stage", "Pipeline Stage",
                  "商机阶段", "阶段", "销售阶段"),
        "outcome": ("outcome", "Result", "Won/Lost", "结果", "赢单状态", "状态"),
        "amount": ("amount", "Amount", "close_value", "Value", "Deal Value", "Revenue", "Expected Revenue",
                   "Est. Revenue", "金额", "预估金额", "预计金额", "商机金额", "合同金额"),
        "currency": ("currency", "Currency", "币种", "货币"),
        "created_at": ("created_at", "Created Date", "Create Date", "Created", "Created On", "Creation Date",
                       "engage_date", "创建时间", "创建日期"),
        "expected_close": ("expected_close", "Expected Close Date", "Est. Close Date", "预计成交日期",
                           "预计签单日期", "预计签约日期"),
        "closed_at": ("closed_at", "close_date", "Close Date", "Closed Date", "关闭日期", "成交日期", "结单日期"),
        "stage_changed_at": ("stage_changed_at", "Last Stage Change Date", "阶段变更时间"),
        "region": ("region", "Region", "区域", "地区", "大区"),
        "industry": ("industry", "Industry", "行业"),
        "tier": ("tier", "Tier", "Account Tier", "客户级别", "客户等级"),
        "lost_reason": ("lost_reason", "Lost Reason", "Loss Reason", "丢单原因", "输单原因"),
        "history_deal_id": ("deal_id", "Deal ID", "Opportunity ID", "OpportunityId", "商机编号"),
        "history_stage": ("stage", "Stage", "StageName", "To Stage", "阶段"),
        "history_at": ("entered_at", "changed_at", "Changed At", "Date", "进入日期", "变更时间"),
    },
    stages={**{label: number for label, number in STAGE_ALIASES.items()},
            **{k: v for k, v in _SALESFORCE.stages.items()}, **{k: v for k, v in _HUBSPOT.stages.items()},
            "won": WON, "closed won": WON, "赢单": WON, "成交": WON, "已成交": WON, "签约": WON,
            "lost": LOST, "closed lost": LOST, "丢单": LOST, "输单": LOST, "已丢单": LOST, "失败": LOST},
)

PRESETS: dict[str, MappingProfile] = {p.name: p for p in (_SALESFORCE, _HUBSPOT, _DYNAMICS, _SNAPSHOTS, _GENERIC)}


def preset(name: str) -> MappingProfile:
    return PRESETS[name]


# Saving, listing and loading ---------------------------------------------------------------------------------------
_NAME = re.compile(r"^[\w\-. ]{1,60}$")


def profiles_dir(db_path: str | os.PathLike | None = None) -> Path:
    """$KEYFUNNEL_PROFILES, else a `profiles` folder beside the database."""
    env = os.environ.get("KEYFUNNEL_PROFILES")
    if env:
        return Path(env)
    from analytics.store.connection import resolve_db_path

    return resolve_db_path(db_path).parent / "profiles"


def list_profiles(folder: Path) -> list[str]:
    """Saved profile names, then the presets."""
    saved = sorted({p.stem for p in folder.glob("*.json")} | {p.stem for p in folder.glob("*.toml")}) \
        if folder.is_dir() else []
    return saved + [n for n in PRESET_NAMES if n not in saved]


def save_profile(profile: MappingProfile, folder: Path) -> Path:
    if not _NAME.match(profile.name) or profile.name.startswith("."):
        raise ProfileError(say("profile_name", name=profile.name))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{profile.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(profile.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # never a half-written profile
    return path


def load_profile(name_or_path: str, folder: Path) -> MappingProfile:
    """A preset by name, a saved profile by name, or a .json / .toml file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix.lower() in (".json", ".toml") and candidate.exists():
        path = candidate
    else:
        path = next((p for p in (folder / f"{name_or_path}.json", folder / f"{name_or_path}.toml") if p.exists()),
                    None)
        if path is None:
            if name_or_path in PRESETS:
                return PRESETS[name_or_path]
            known = ", ".join(list_profiles(folder))
            raise ProfileError(say("no_profile", name=name_or_path, known=known))
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(say("profile_unreadable", detail=str(exc)), path.name) from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(say("profile_not_parsed", kind=path.suffix[1:].upper(), detail=str(exc)), path.name) \
            from None
    return profile_from_mapping(data, default_name=path.stem, origin=path.name)


def profile_from_mapping(data: dict, *, default_name: str, origin: str) -> MappingProfile:
    """Validate a profile read from a file: every problem names the file, the key and the value."""
    if not isinstance(data, dict):
        raise ProfileError(say("profile_not_object"), origin)
    known = {"name", "preset", "columns", "stages", "outcomes", "date_order", "decimal_mark", "currency", "rates",
             "key_columns"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProfileError(say("profile_unknown_keys", unknown=", ".join(unknown), known=", ".join(sorted(known))),
                           origin)
    base_name = data.get("preset")
    if base_name not in PRESETS:
        raise ProfileError(say("profile_preset", preset=base_name, presets=", ".join(PRESET_NAMES)), origin)
    base = PRESETS[base_name]

    def table(key: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ProfileError(say("profile_not_table", key=key), origin)
        return value

    columns = dict(base.columns)
    for f, headers in table("columns").items():
        headers = (headers,) if isinstance(headers, str) else headers
        if not isinstance(headers, (list, tuple)) or not all(isinstance(h, str) and h for h in headers):
            raise ProfileError(say("profile_columns", field=f), origin)
        # an empty list unmaps the field: `product = []` for a text column named like the score
        columns[f] = tuple(headers)
    stages = dict(base.stages)
    for label, target in table("stages").items():
        if isinstance(target, str) and target.strip().isdigit():
            target = int(target)
        if isinstance(target, str) and target.lower() in (WON, LOST):
            target = target.lower()
        if not ((isinstance(target, int) and not isinstance(target, bool) and 1 <= target <= 8)
                or target in (WON, LOST)):
            raise ProfileError(say("profile_stage", label=label, target=target), origin)
        stages[label] = target
    outcomes = dict(base.outcomes)
    for value, outcome in table("outcomes").items():
        if not isinstance(outcome, str) or outcome.lower() not in (WON, LOST, OPEN):
            raise ProfileError(say("profile_outcome", value=value, outcome=outcome), origin)
        outcomes[value] = outcome.lower()
    date_order = str(data.get("date_order", "auto"))
    if date_order not in DATE_ORDERS:
        raise ProfileError(say("profile_date_order", value=date_order, orders=", ".join(DATE_ORDERS)), origin)
    decimal_mark = str(data.get("decimal_mark", "."))
    if decimal_mark not in (".", ","):
        raise ProfileError(say("profile_decimal_mark", value=decimal_mark), origin)
    rates = {}
    for code, rate in table("rates").items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ProfileError(say("profile_rate", code=code, rate=rate), origin)
        rates[str(code).upper()] = float(rate)
    currency = data.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.strip()):
        raise ProfileError(say("profile_currency", value=currency), origin)
    key_columns = data.get("key_columns", [])
    key_columns = [key_columns] if isinstance(key_columns, str) else key_columns
    if not isinstance(key_columns, list) or not all(isinstance(h, str) and h for h in key_columns):
        raise ProfileError(say("profile_key_columns"), origin)
    name = str(data.get("name") or default_name)
    return MappingProfile(name=name, preset=base_name, columns=columns, stages=stages, outcomes=outcomes,
                          date_order=date_order, decimal_mark=decimal_mark,
                          currency=currency.strip().upper() if currency else None, rates=rates,
                          key_columns=tuple(key_columns))
