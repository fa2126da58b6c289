"""A mapping profile suggested for an export no preset recognises, written as TOML for the analyst to edit.

The generic preset (analytics.profiles) already maps the headers English and Chinese CRMs use; what the
suggestion adds is the file's own view of it: the column found for each field, every stage name with its count
and where it maps, and a commented line for each name it could not map, so that editing the file is filling in
the blanks.
"""

from __future__ import annotations

import json

from analytics.ingest.crm.convert import Conversion
from analytics.messages import counted


def _toml(value) -> str:
    """A TOML value: JSON's string escapes are TOML's basic-string escapes."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def suggested_profile_toml(conversion: Conversion, name: str = "my-crm") -> str:
    """The profile that reproduces this conversion's mapping, as TOML: columns found, stage names mapped, the
    unmapped ones as comments to fill in."""
    lines = [f"# keyfunnel mapping profile, suggested from {', '.join(conversion.files)}.",
             "# Edit it, save it as NAME.toml, then: keyfunnel import FILE --profile NAME.toml",
             f"name = {_toml(name)}", f"preset = {_toml(conversion.preset)}"]
    if conversion.date_order:
        lines.append(f"date_order = {_toml(conversion.date_order)}")
    if "key_columns" in conversion.columns:
        lines.append("# no ID column: a deal's key is derived from these columns' values")
        lines.append(f"key_columns = {_toml(conversion.columns['key_columns'].split(', '))}")
    lines += ["", "[columns]", "# field = the header of the column that holds it; field = [] leaves it unmapped"]
    for field, header in conversion.columns.items():
        if field != "key_columns":
            lines.append(f"{field} = {_toml(header)}")
    lines += ["", "[stages]", "# stage name = 1–8, \"won\" or \"lost\" (docs/crm-exports.md lists the eight stages)"]
    for s in conversion.stages:
        entry = f"{_toml(s.label)} = {_toml(s.target) if s.target is not None else '?'}"
        rows = counted(s.rows, "row")
        lines.append(f"# {entry}   # unmapped: {rows}" if s.target is None else f"{entry}   # {rows}")
    return "\n".join(lines) + "\n"
