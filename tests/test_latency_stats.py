"""Order-statistic intervals (readiness.stats) against exact binomial values from scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from readiness import stats
from readiness.checks.latency import look_schedule
from readiness.timing import decode_times, encode_times


@pytest.mark.parametrize(("q", "confidence", "expected"), [(0.99, 0.95, 299), (0.90, 0.95, 29), (0.50, 0.95, 5)])
def test_minimum_sample_counts_follow_the_binomial_rule(q, confidence, expected):
    assert stats.min_samples(q, confidence) == expected
    # the largest of n samples bounds the quantile exactly when 1 - q**n >= confidence
    assert 1 - q**expected >= confidence > 1 - q ** (expected - 1)
    assert stats.upper_rank(expected, q, confidence) == expected
    assert stats.upper_rank(expected - 1, q, confidence) is None


@pytest.mark.parametrize("n", [5, 29, 100, 299, 437, 1000, 5000])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("confidence", [0.95, 0.9875])
def test_ranks_are_the_tightest_that_keep_the_confidence(n, q, confidence):
    k = stats.upper_rank(n, q, confidence)
    if k is not None:
        assert binom.cdf(k - 1, n, q) >= confidence  # P(X_(k) >= true quantile) >= c
        assert k == 1 or binom.cdf(k - 2, n, q) < confidence  # and no smaller rank does
    else:
        assert binom.cdf(n - 1, n, q) < confidence
    j = stats.lower_rank(n, q, confidence)
    if j is not None:
        assert binom.sf(j - 1, n, q) >= confidence  # P(X_(j) <= true quantile) >= c
        assert j == n or binom.sf(j, n, q) < confidence
    else:
        assert binom.sf(0, n, q) < confidence


def test_known_values():
    # p50 of 100 samples at 95% one-sided: ranks 42 and 59 (binomial tables)
    assert stats.lower_rank(100, 0.5, 0.95) == 42
    assert stats.upper_rank(100, 0.5, 0.95) == 59


def test_point_estimates_are_order_statistics_not_interpolations():
    values = np.arange(1, 101, dtype=float)[::-1]  # unsorted on purpose
    iv = stats.quantile_interval(values, 0.99, 0.95)
    assert iv.point == 99.0
    assert iv.upper is None  # 100 samples cannot bound p99 at 95%
    assert stats.quantile_interval(values, 0.5, 0.95).point == 50.0
    assert stats.quantile_interval(values, 0.5, 0.95).lower == 42.0


def test_upper_bound_covers_the_true_quantile_at_least_as_often_as_promised():
    rng = np.random.default_rng(1)
    n, q, c, trials = 300, 0.99, 0.95, 4000
    k = stats.upper_rank(n, q, c)
    true_q = -np.log(1 - q)  # exponential(1) quantile
    samples = np.sort(rng.exponential(size=(trials, n)), axis=1)
    coverage = np.mean(samples[:, k - 1] >= true_q)
    assert coverage >= c - 3 * np.sqrt(c * (1 - c) / trials)


def test_judge_and_bonferroni():
    iv = stats.QuantileInterval(0.99, 0.95, 500, point=5.0, lower=4.0, upper=6.0)
    assert stats.judge(iv, 6.0) == "pass"
    assert stats.judge(iv, 3.9) == "fail"
    assert stats.judge(iv, 5.0) == "undecided"
    assert stats.bonferroni(0.95, 4) == pytest.approx(0.9875)
    # four looks at p99: the required sample count grows accordingly
    assert stats.min_samples(0.99, stats.bonferroni(0.95, 4)) == 437


def test_look_schedule_starts_small_then_reaches_the_required_count():
    assert look_schedule(437, 4) == [30, 437, 874, 1748]
    assert look_schedule(8, 3) == [30, 60, 120]
    assert look_schedule(437, 1) == [437]
    # a minimum measuring time raises every deciding look, never the early one
    assert look_schedule(437, 3, floor=5000) == [30, 5000, 10000]


def test_raw_times_round_trip_exactly():
    times = np.array([1, 999, 123_456_789, 10**12], dtype=np.int64)
    raw = encode_times(times)
    assert raw["count"] == 4 and raw["unit"] == "ns"
    assert np.array_equal(decode_times(raw), times)
    with pytest.raises(ValueError):
        decode_times({**raw, "count": 5})


def test_request_rows_cover_every_row_in_c_ordered_batches_with_bounded_chunks():
    import pandas as pd

    from readiness.config import InputSpec
    from readiness.timing import RequestRows

    frame = pd.DataFrame({"a": np.arange(10, dtype=float), "b": np.arange(10, 20, dtype=float)})
    spec = [InputSpec(name="x", dtype="float32", shape=[-1, 2], features=["a", "b"])]
    rows = RequestRows(frame, spec, 3, seed=1)
    assert rows.chunk_rows % 3 == 0  # a whole number of batches
    seen = []
    for _ in range(4):  # 12 rows served: one full pass (every row once) and two of the next pass
        batch = rows.next_batch()["x"]
        assert batch.flags["C_CONTIGUOUS"] and batch.shape == (3, 2)
        seen += batch[:, 0].astype(int).tolist()
    assert sorted(seen[:10]) == list(range(10))  # every row before any row twice
    assert rows.distinct_rows == 10

    def first(seed):
        return RequestRows(frame, spec, 3, seed=seed).next_batch()["x"][:, 0].tolist()

    assert first(1) == seen[:3] and first(1) != first(2)  # seeded: same seed, same order


def test_request_rows_convert_a_bounded_chunk_of_a_large_data_set(monkeypatch):
    import pandas as pd

    from readiness import timing
    from readiness.config import InputSpec

    monkeypatch.setattr(timing, "CHUNK_BYTES", 64 * 1024)  # 64 KiB of tensors at a time
    frame = pd.DataFrame({f"f{i}": np.arange(20_000, dtype=float) for i in range(8)})
    spec = [InputSpec(name="x", dtype="float32", shape=[-1, 8], features=list(frame.columns))]
    rows = timing.RequestRows(frame, spec, 4, seed=0)
    assert rows.chunk_rows * 8 * 4 <= 64 * 1024  # 32-byte rows: at most 2048 rows converted at once
    for _ in range(1000):
        rows.next_batch()
    assert rows.distinct_rows == 4000  # no row twice before every row once


def test_mean_bounds_agree_with_scipys_percentile_bootstrap():
    from scipy.stats import bootstrap

    values = np.random.default_rng(4).gamma(2.0, 1.0, 50)  # skewed, like chunk times
    low, high = stats.mean_bounds(values, 0.95, np.random.default_rng(0))
    ref = bootstrap((values,), np.mean, confidence_level=0.90, n_resamples=20000, method="percentile", rng=1)
    width = ref.confidence_interval.high - ref.confidence_interval.low
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)
    assert low < values.mean() < high
    assert stats.mean_bounds(values, 0.95, np.random.default_rng(0)) == (low, high)  # seeded
