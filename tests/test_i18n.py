"""Import problems and outcomes in Chinese: every reason the importer gives is translated, with its figures."""

import string

import pytest

from analytics.i18n.issues import CHINESE, message_text
from analytics.ingest.canonical import import_files
from analytics.messages import ENGLISH, say

from .handworked import load_handworked

HEADER = ["deal_id", "account", "tier", "amount", "created_at", "closed_at", "outcome", "funding", "notes"]


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_every_reason_of_a_bad_import_reads_in_chinese(store, csv_writer):
    deals = csv_writer("d.csv", HEADER, [
        ["B1", "", "E", "-5", "2026-13-40", "", "maybe", "7", "x"],    # missing account, tier, negative, date, …
        ["B2", "Acme", "A", "1e99", "1960-01-01", "", "open", "1", ""],  # too large, out of range
        ["B3", "Acme", "A", "1,5", "2026-01-01", "", "open", "", ""],    # decimal comma not declared
        ["B4", "Acme", "A", "10", "2026-01-01", "", "open", "", "", "extra"],  # too many columns
        ["B5", "A" * 1001, "A", "10", "2026-01-01", "", "open", "", ""],  # too long
        ["B6", "Acme", "A", "10", "2026-01-01", "", "open", "", ""],
        ["B6", "Acme", "B", "10", "2026-01-01", "", "open", "", ""],     # conflicting duplicate
        ["B7", "Acme", "A", "10", "2026-01-01", "", "", "", ""],         # no outcome: a required value
    ])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [
        ["B1", "9", "2026-01-01"], ["NOPE", "1", "2026-01-01"], ["B6", "1", "yesterday"], ["", "", ""]])
    r = import_files(store, deals, history)
    assert r.status == "rejected"
    problems = {e.problem for e in r.errors} | {w.problem for w in r.warnings} | {r.outcome}
    assert len(problems) == 17  # 16 distinct problems (12 rows: 21 problems, one warning), and the outcome
    untranslated = [str(m) for m in problems if not chinese(message_text(m, "zh"))]
    assert untranslated == []
    by_code = {m.code: m for m in problems}
    assert message_text(by_code["too_many_columns"], "zh") == "列数过多:应为 9 列"
    assert message_text(by_code["too_long"], "zh") == "值超过 1000 个字符"
    assert str(by_code["conflicting_duplicate"]) == "deal_id appears on rows 7, 8 with different values"
    assert message_text(by_code["conflicting_duplicate"], "zh") == "商机编号出现在第 7, 8 行,取值不一致"


def test_warnings_and_outcomes_read_in_chinese(store, tmp_path):
    r = load_handworked(store, tmp_path)
    assert r.status == "imported"
    assert [message_text(w.problem, "zh") for w in r.warnings if "stage 8" in w.reason] == [
        "赢单,但阶段历史未到达阶段 8:按关闭日期计为签约"]  # D5
    assert message_text(r.outcome, "zh") == f"批次 {r.batch_id}:新增 9 个商机,更新 0 个,新增 {r.stage_events} 条阶段记录"
    lost = say("closed_without_date", outcome="lost")
    assert (str(lost), message_text(lost, "zh")) == ("deal is lost but has no closed_at", "商机已丢单,但没有关闭日期")
    from analytics.exceptions import InputError

    empty = InputError(say("file_empty"), "d.csv")
    assert (str(empty), message_text(empty, "zh")) == ("d.csv: the file is empty", "d.csv:文件为空")


def test_english_is_the_message_as_the_cli_prints_it():
    assert message_text(say("required_missing"), "en") == "required value missing"
    assert message_text(say("rejected", problems=1, rows=0), "en") == "rejected: 1 problem; the database is unchanged"
    assert message_text(say("rejected", problems=3, rows=2), "zh") == "已拒绝:2 行中共有 3 个问题;数据库未作任何改动"


@pytest.mark.parametrize("text", ["something we never wrote", None, ""])
def test_plain_text_is_shown_as_written(text):  # an error only the CLI raises, a library's own words
    assert message_text(text, "zh") == text


def _fields(template) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_has_a_chinese_text_with_the_same_parameters():
    assert CHINESE.keys() == ENGLISH.keys()
    for code, english in ENGLISH.items():
        chinese_text = CHINESE[code]
        if isinstance(english, str) and isinstance(chinese_text, str):
            assert _fields(english) == _fields(chinese_text), code


PROFILE_FILES = {  # a hand-edited profile per problem the loader names
    "list.json": "[]",
    "keys.json": '{"preset": "hubspot", "colour": "red"}',
    "preset.json": '{"preset": "pipedrive"}',
    "table.json": '{"preset": "hubspot", "stages": "all"}',
    "columns.json": '{"preset": "hubspot", "columns": {"amount": 5}}',
    "stages.json": '{"preset": "hubspot", "stages": {"Demo": 9}}',
    "outcomes.json": '{"preset": "hubspot", "outcomes": {"Closed": "maybe"}}',
    "order.json": '{"preset": "hubspot", "date_order": "YDM"}',
    "mark.json": '{"preset": "hubspot", "decimal_mark": ";"}',
    "rates.json": '{"preset": "hubspot", "rates": {"usd": -1}}',
    "currency.json": '{"preset": "hubspot", "currency": " "}',
    "broken.json": "{",
    "broken.toml": "preset = ",
}


def test_every_profile_error_reads_in_chinese(tmp_path):
    from dataclasses import replace

    from analytics.ingest.crm.profiles import (
        PRESETS,
        ProfileError,
        load_profile,
        save_profile,
    )

    messages = []
    for name, text in PROFILE_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(ProfileError) as raised:
            load_profile(str(tmp_path / name), tmp_path)
        messages.append(raised.value)
    for bad in ("no such profile", ):
        with pytest.raises(ProfileError) as raised:
            load_profile(bad, tmp_path / "none")
        messages.append(raised.value)
    with pytest.raises(ProfileError) as raised:
        save_profile(replace(PRESETS["hubspot"], name="a/b"), tmp_path)
    messages.append(raised.value)
    assert len({str(m) for m in messages}) == len(PROFILE_FILES) + 2
    untranslated = [str(m) for m in messages if not chinese(message_text(m, "zh"))]
    assert untranslated == []
    assert message_text(messages[0], "zh") == "list.json:配置必须是由键组成的对象"
    assert str(messages[5]) == "stages.json: stages.'Demo' = 9: map a stage to 1–8, 'won' or 'lost'"
    assert message_text(messages[5], "zh") == "stages.json:stages.'Demo' = 9:阶段只能映射到 1–8、won 或 lost"
    assert message_text(messages[-1], "zh") == "配置名称 'a/b':只能使用字母、数字、空格、“-”、“_” 或 “.”"
