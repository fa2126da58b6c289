"""On generator data, the 95% intervals cover the population values about 95% of the time.

benchmarks/coverage.py measures this at 100k deals over many seeds (figures in docs/performance.md); this test runs a
smaller version in the suite. Expected pooled coverage 0.95; the bounds sit about 5 standard errors below it.
"""

import pytest

from benchmarks.coverage import measure


@pytest.mark.slow
def test_intervals_cover_the_truth():
    result = measure(deals=10_000, seeds=30, first_seed=500)  # the intervals' count sets the test's power, not n
    assert result["conversion_pooled"] >= 0.88, result  # 210 intervals: SE 0.015
    assert result["win_rate_pooled"] >= 0.88, result
    assert result["coverage"]["claim"] >= 0.80, result  # 30 intervals: SE 0.04
    assert result["conversion_pooled"] < 1.0 or result["win_rate_pooled"] < 1.0  # not vacuously wide
