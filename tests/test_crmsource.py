"""Reading a CRM export's values: dates in the order the values decide, amounts with codes and marks."""

import math
from datetime import datetime

from analytics.ingest.crm.source import (
    DateColumn,
    infer_date_order,
    parse_amount,
    parse_dates,
    read_table,
)

from .conftest import write_csv


def test_date_order_inferred_only_when_the_values_decide(tmp_path):
    us = read_table(write_csv(tmp_path / "us.csv", ["d"], [["02/23/26"], ["03/04/2026"]]))[0]
    eu = read_table(write_csv(tmp_path / "eu.csv", ["d"], [["23/02/2026"], ["03/04/2026"]]))[0]
    unclear = read_table(write_csv(tmp_path / "x.csv", ["d"], [["03/04/2026"], ["2026-05-01"]]))[0]
    assert infer_date_order([DateColumn(us, 0)], "auto") == ("MDY", None)
    assert infer_date_order([DateColumn(eu, 0)], "auto") == ("DMY", None)
    order, problem = infer_date_order([DateColumn(unclear, 0)], "auto")
    assert order is None and (problem.row, problem.value) == (2, "03/04/2026") and "date_order" in problem.reason
    assert infer_date_order([DateColumn(unclear, 0)], "DMY") == ("DMY", None)
    stamps, bad = parse_dates(us.values(0), "MDY")
    assert list(stamps) == [datetime(2026, 2, 23), datetime(2026, 3, 4)] and not bad.any()


def test_amounts_with_codes_symbols_and_a_decimal_comma():
    assert parse_amount("USD 1,234.50", ".") == (1234.5, "USD")
    assert parse_amount("¥1,234", ".") == (1234.0, None)
    assert parse_amount("1.234,50 EUR", ",") == (1234.5, "EUR")
    amount, code = parse_amount("eight hundred", ".")
    assert amount is None and code is None
    assert not math.isnan(parse_amount("0", ".")[0])
