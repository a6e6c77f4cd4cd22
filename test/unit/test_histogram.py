"""Log-linear histogram layout (mirrors bpf/rostrace.h) and percentiles."""
import random

import pytest

from rostrace.model.histogram import Accumulator, bucket_bounds, bucket_of, percentile


@pytest.mark.parametrize('value', [0, 1, 15, 16, 17, 31, 32, 33, 1000, 999_999,
                                   5_000_000, 2**40 + 12345])
def test_value_lies_in_its_bucket(value):
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value < high


def test_bucket_width_is_at_most_one_sixteenth():
    for value in (100, 10_000, 12_345_678):
        low, high = bucket_bounds(bucket_of(value))
        assert (high - low) / low <= 1 / 16


def test_buckets_are_monotonic_and_contiguous():
    previous_high = 0
    for bucket in range(0, 400):
        low, high = bucket_bounds(bucket)
        assert low == previous_high
        previous_high = high


def test_percentiles_within_three_percent_of_exact():
    rng = random.Random(7)
    values = [int(rng.lognormvariate(13, 0.6)) for _ in range(5000)]
    buckets = {}
    for v in values:
        buckets[bucket_of(v)] = buckets.get(bucket_of(v), 0) + 1
    ordered = sorted(values)
    for fraction in (0.5, 0.9, 0.99):
        exact = ordered[int(fraction * len(ordered)) - 1]
        estimate = percentile(buckets, fraction, lo=ordered[0], hi=ordered[-1])
        assert abs(estimate - exact) / exact < 0.03, (fraction, estimate, exact)


def test_percentile_clamped_to_exact_min_and_max():
    buckets = {bucket_of(5_000_000): 10}
    assert percentile(buckets, 0.99, lo=5_000_100, hi=5_000_200) == 5_000_200
    assert percentile(buckets, 0.01, lo=5_000_100, hi=5_000_200) == 5_000_100


def test_accumulator_merges_windows():
    a = Accumulator()
    a.add(2, 30, 10, 20, {bucket_of(10): 1, bucket_of(20): 1})
    a.add(1, 5, 5, 5, {bucket_of(5): 1})
    stats = a.stats()
    assert stats.count == 3
    assert stats.min == 5e-9 and stats.max == 20e-9
    assert stats.mean == pytest.approx(35e-9 / 3)


def test_empty_accumulator_is_available_with_zero_count():
    stats = Accumulator().stats()
    assert stats.available and stats.count == 0
