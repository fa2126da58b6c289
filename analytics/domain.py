"""The domain's vocabulary: the eight stages, account tiers, the nine evaluation factors, outcomes.

Every other module takes stage names, tier policies and factor names from here; none is spelled elsewhere.
Source: ../shared/domain/README.md and the article "大客户营销推进流程八步曲".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    number: int
    key: str
    name_zh: str
    name_en: str
    exit_zh: str
    exit_en: str
    short_zh: str  # where a full name does not fit: a chart's node, a narrow axis
    short_en: str

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def short_name(self, lang: str = "en") -> str:
        return self.short_zh if lang == "zh" else self.short_en

    def exit_criterion(self, lang: str = "en") -> str:
        return self.exit_zh if lang == "zh" else self.exit_en


STAGES: tuple[Stage, ...] = (
    Stage(1, "planning", "客户规划与电话邀约", "Account planning & phone invitation",
          "客户同意当面沟通", "The customer agrees to meet face to face", "规划", "Planning"),
    Stage(2, "visit", "客户拜访与初步调研", "Visit & initial research",
          "客户要求我方提交初步方案", "The customer asks us for a preliminary proposal", "拜访", "Visit"),
    Stage(3, "proposal", "提交初步方案", "Preliminary proposal",
          "客户同意进行技术交流", "The customer agrees to a technical exchange", "初步方案", "Proposal"),
    Stage(4, "demo", "方案演示与技术交流", "Solution demo & technical exchange",
          "客户允许我方设计正式方案", "We are allowed to design the formal proposal",
          "技术交流", "Demo"),
    Stage(5, "bid", "需求分析与正式方案设计", "Requirements analysis & formal proposal (bid)",
          "我方投标通过初步筛选", "Our bid passes the first screening", "正式方案", "Bid"),
    Stage(6, "evaluation", "项目评估", "Project evaluation",
          "我方被确认为首选供应商", "We are confirmed as preferred supplier", "项目评估", "Evaluation"),
    Stage(7, "negotiation", "商务谈判", "Commercial negotiation",
          "合同条款达成一致", "Contract terms agreed", "商务谈判", "Negotiation"),
    Stage(8, "signed", "签约成交", "Contract signed",
          "赢单", "Won", "签约", "Signed"),
)
STAGE_NUMBERS: tuple[int, ...] = tuple(s.number for s in STAGES)
# What a blank tier, owner, region or industry is grouped as (the model's category, a breakdown's key); shown in the
# reader's language (i18n.value_label).
MISSING_VALUE = "(none)"
FIRST_STAGE, LAST_STAGE = 1, 8
# Entering stage 7 means stage 6's exit was met: the vendor is the confirmed preferred supplier (首选供应商).
PREFERRED_SUPPLIER_STAGE = 7


def stage(number: int) -> Stage:
    return STAGES[number - 1]


def _stage_aliases() -> dict[str, int]:
    aliases: dict[str, int] = {}
    for s in STAGES:
        for alias in (str(s.number), s.key, s.name_en, s.name_zh):
            aliases[normalise_label(alias)] = s.number
    return aliases


def normalise_label(text: str) -> str:
    """Case- and space-insensitive form used to match stage and outcome labels."""
    return " ".join(text.strip().casefold().split())


STAGE_ALIASES: dict[str, int] = _stage_aliases()


# Outcomes ----------------------------------------------------------------------------------------
WON, LOST, OPEN = "won", "lost", "open"
OUTCOME_ALIASES: dict[str, str] = {
    "won": WON, "win": WON, "closed won": WON, "赢单": WON, "成交": WON,
    "lost": LOST, "loss": LOST, "closed lost": LOST, "丢单": LOST, "输单": LOST,
    "open": OPEN, "进行中": OPEN, "跟进中": OPEN,
}
OUTCOME_NAMES = {
    WON: ("赢单", "Won"),
    LOST: ("丢单", "Lost"),
    OPEN: ("进行中", "Open"),
}


# Account tiers (客户级别): graded by expected close time and close likelihood -----------------------
@dataclass(frozen=True)
class Tier:
    key: str
    policy_zh: str
    policy_en: str

    def policy(self, lang: str = "en") -> str:
        return self.policy_zh if lang == "zh" else self.policy_en


TIERS: tuple[Tier, ...] = (
    Tier("A", "全力以赴,进入销售流程", "Go all in: enter the full sales process"),
    Tier("B", "控制投入时间,客户维护", "Control the time spent; maintain the account"),
    Tier("C", "关注变化,客户维护", "Watch for changes; maintain the account"),
    Tier("D", "最后考虑,客户维护", "Consider last; maintain the account"),
)
TIER_KEYS: tuple[str, ...] = tuple(t.key for t in TIERS)


# The opportunity evaluation model (评估模型): five project factors, four competition factors -------
@dataclass(frozen=True)
class Factor:
    key: str
    group: str  # "project" or "competition"
    name_zh: str
    name_en: str

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en


FACTORS: tuple[Factor, ...] = (
    Factor("project_level", "project", "项目等级", "Project level"),
    Factor("funding", "project", "资金状况", "Funding status"),
    Factor("tech_fit", "project", "技术要求", "Technical requirements we can meet"),
    Factor("relationship", "project", "客情关系", "Customer relationship"),
    Factor("credit", "project", "客户信誉", "Customer credit"),
    Factor("product", "competition", "产品", "Our product vs competitors"),
    Factor("price", "competition", "价格", "Our price vs competitors"),
    Factor("solution", "competition", "技术方案", "Our technical solution vs competitors"),
    Factor("service", "competition", "售后服务", "Our after-sales service vs competitors"),
)
FACTOR_KEYS: tuple[str, ...] = tuple(f.key for f in FACTORS)
FACTOR_SCORE_RANGE = (1, 5)


# CRM default stage probabilities, mapped onto our eight stages (documented in docs/metrics.md) ----
# Salesforce's eight default stages carry 10/10/20/50/60/70/75/90 % (Prospecting, Qualification, Needs Analysis,
# Value Proposition, Id. Decision Makers, Perception Analysis, Proposal/Price Quote, Negotiation/Review). Our stage 8
# is a signed contract (100 %), so the eight are folded onto our stages 1–7: Perception Analysis and Proposal/Price
# Quote both fall in our project evaluation (6), which takes the lower 70 %; Negotiation/Review is our stage 7.
SALESFORCE_DEFAULT_PROBABILITY = {1: 0.10, 2: 0.10, 3: 0.20, 4: 0.50, 5: 0.60, 6: 0.70, 7: 0.90}
# HubSpot's default sales pipeline: Appointment scheduled 20 %, Qualified to buy 40 %, Presentation scheduled 60 %,
# Decision maker bought-in 80 %, Contract sent 90 %. Mapped: 1–2 → 20 %, 3–4 → 40 %, 5 → 60 %, 6 → 80 %, 7 → 90 %.
HUBSPOT_DEFAULT_PROBABILITY = {1: 0.20, 2: 0.20, 3: 0.40, 4: 0.40, 5: 0.60, 6: 0.80, 7: 0.90}
