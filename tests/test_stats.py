import pytest
from scipy.stats import binomtest

from analytics.stats import product_limit, wilson_interval


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (3, 7), (50, 100), (999, 1000), (0, 20)])
def test_wilson_matches_scipy(k, n):
    assert wilson_interval(k, n) == pytest.approx(binomtest(k, n).proportion_ci(method="wilson"), abs=1e-12)


def test_wilson_of_nothing_is_none():
    assert wilson_interval(0, 0) is None


def test_product_limit_without_censoring_is_the_plain_wilson_interval():
    # 100 start; 80 pass step 1; 60 of those pass step 2: no one is censored, so it is 60/100.
    p, ci = product_limit([(80, 100), (60, 80)])
    assert p == pytest.approx(0.6)
    assert ci == pytest.approx(wilson_interval(60, 100))


def test_product_limit_with_censoring_widens_the_interval():
    # 100 start, 80 pass; 20 of the 80 are still open, so 60 are at risk at step 2 and 45 pass.
    p, ci = product_limit([(80, 100), (45, 60)])
    assert p == pytest.approx(0.8 * 0.75)
    plain = wilson_interval(60, 100)
    assert (ci[1] - ci[0]) > (plain[1] - plain[0])


def test_product_limit_edge_cases():
    assert product_limit([]) == (1.0, (1.0, 1.0))
    assert product_limit([(5, 5), (0, 0)]) == (None, None)
    p, ci = product_limit([(10, 10), (10, 10)])
    assert p == 1.0 and ci == pytest.approx(wilson_interval(10, 10))
    p, ci = product_limit([(0, 10)])
    assert p == 0.0 and ci == pytest.approx(wilson_interval(0, 10))
