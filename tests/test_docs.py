"""The docs are tested: a command, column or table that exists in code but not in the docs fails here."""

from analytics.cli import build_parser
from analytics.ingest.canonical import DEAL_HEADERS_ZH, HISTORY_HEADERS_ZH
from analytics.store.connection import DEAL_COLUMNS, MIGRATIONS

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA_FORMAT = (ROOT / "docs" / "data-format.md").read_text(encoding="utf-8")
METRICS = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    blocks = README.split("```bash")[1:3]
    assert "keyfunnel serve" in blocks[0] and "pip install -e ." in blocks[0]
    assert "pytest" in blocks[1] and "pip install -e '.[test]'" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1].split("```")[0].strip() in ci  # CI runs exactly the README's test command


def test_every_command_is_in_the_readme():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"keyfunnel {name}" in README or f" {name} " in README, name


def test_every_column_and_chinese_header_is_documented():
    for column in DEAL_COLUMNS:
        assert f"`{column}`" in DATA_FORMAT, column
    for zh in (*DEAL_HEADERS_ZH, *HISTORY_HEADERS_ZH):
        assert zh in DATA_FORMAT, zh


def test_every_table_is_documented():
    import re

    tables = set(re.findall(r"CREATE TABLE (\w+)", " ".join(sql for _, sql in MIGRATIONS)))
    for table in tables | {"deal_facts"}:
        assert f"`{table}`" in DATA_FORMAT, table


def test_every_funnel_field_is_defined():
    from dataclasses import fields

    from analytics.analyses.funnel import StageFunnel

    for f in fields(StageFunnel):
        if f.name != "stage":
            assert f"`{f.name}`" in METRICS, f.name


def test_every_preset_mapping_is_documented():
    from analytics.domain import STAGE_ALIASES
    from analytics.ingest.crm.profiles import PRESETS

    crm = (ROOT / "docs" / "crm-exports.md").read_text(encoding="utf-8")
    for name, profile in PRESETS.items():
        assert f"`{name}`" in crm, name
        for field_name, headers in profile.columns.items():
            assert f"`{field_name}`" in crm or field_name in ("deal_id",), (name, field_name)
            for header in headers:
                assert header in crm, (name, header)
        if name != "snapshots":
            for label in profile.stages:  # keyfunnel's own stage names are in docs/data-format.md
                assert label in crm or label in STAGE_ALIASES, (name, label)
