"""One format per kind of number (analytics.formatting), worked by hand."""

import math

import pytest

from analytics import formatting as fmt


def test_counts_shares_days_and_money_read_the_same_everywhere():
    assert (fmt.count(3000), fmt.count(2359), fmt.count(None)) == ("3,000", "2,359", "–")
    assert (fmt.percent(0.3303), fmt.percent(0.34), fmt.percent(0.008), fmt.percent(1.0)) == (
        "33.0%", "34.0%", "0.8%", "100.0%")  # once 33.03%, 34.0%, 0.8% and 100% on one screen
    assert fmt.interval((0.312, 0.349)) == "31.2% – 34.9%" and fmt.interval(None) == "–"
    assert (fmt.days(41.6), fmt.days(float("nan"))) == ("42", "–")
    assert (fmt.money(1_361_165_300.4), fmt.money(1.8e6, "USD")) == ("1,361,165,300", "1,800,000 USD")


@pytest.mark.parametrize("value, english, chinese", [
    (28_600_000, "28.6M", "2,860万"),
    (136_100_000, "136.1M", "1.36亿"),
    (1_361_165_300, "1.4B", "13.61亿"),
    (55_000, "55.0K", "5.5万"),
    (800, "800", "800"),
    (-3_700_000, "-3.7M", "-370万"),
])
def test_short_money_counts_in_the_readers_units(value, english, chinese):
    assert fmt.money_short(value) == english
    assert fmt.money_short(value, "zh") == chinese


def test_short_money_names_the_reporting_currency():
    assert fmt.money_short(28_600_000, "en", "CNY") == "28.6M CNY"
    assert fmt.money_short(28_600_000, "zh", "CNY") == "2,860万元"
    assert fmt.money_short(1_800_000, "zh", "USD") == "180万 USD"


def test_money_ticks_are_round_and_labelled_in_the_language():
    values, labels = fmt.money_ticks(22e6, 41e6, "zh")
    assert values == [25e6, 30e6, 35e6, 40e6] and labels == ["2,500万", "3,000万", "3,500万", "4,000万"]
    assert fmt.money_ticks(5.0, 5.0) == ([], []) and fmt.money_ticks(0, math.inf) == ([], [])


@pytest.mark.parametrize("text, value", [
    ("30000000", 30e6), ("30,000,000", 30e6), ("30M", 30e6), ("30m", 30e6), ("2.5k", 2500.0),
    ("3000万", 30e6), ("1.2亿", 1.2e8), (" 7 ", 7.0), ("", None), ("  ", None)])
def test_a_target_is_read_as_people_type_it(text, value):
    assert fmt.parse_money(text) == value


@pytest.mark.parametrize("text", ["abc", "30MM", "-5M", "1e999", "M"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError):
        fmt.parse_money(text)
