"""The docs are tested: a command, column or table that exists in code but not in the docs fails here."""

import re

from analytics.cli import build_parser
from analytics.ingest.headers import DEAL_HEADERS_ZH, HISTORY_HEADERS_ZH
from analytics.store.schema import DEAL_COLUMNS, MIGRATIONS

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

    from analytics.store.cache import _RESULTS_SCHEMA

    tables = set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)",
                            " ".join(sql for _, sql in MIGRATIONS) + _RESULTS_SCHEMA))
    assert {"results", "refreshes"} <= tables
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


def test_the_readme_layout_lists_every_module():
    """Each row's first file names its folder under analytics/; the files after it in the row share that folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| path | what it holds |"):].split("\n\n")[0]
    listed = set()
    for row in table.splitlines()[2:]:
        if row.startswith("| `app.py`") or not re.match(r"\| `[\w/]+(\.py)?`", row):
            continue  # the app, data/ and benchmarks/
        names = re.findall(r"`([\w/.]+\.py)`", row.split("|")[1])
        folder = names[0].rpartition("/")[0] if names else ""
        listed |= {n if "/" in n else f"{folder}/{n}".lstrip("/") for n in names}
    package = ROOT / "analytics"
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py")  # a package's docstring is its row
               if p.name not in ("__init__.py", "__main__.py") or p.parent.name == "cli" and p.name == "__init__.py"}
    assert sorted(modules - listed) == [] and sorted(listed - modules) == []
