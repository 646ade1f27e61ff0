"""Distribution-free confidence intervals on percentiles (order statistics).

For n independent samples of a continuous quantity, the number of samples below
the true q-quantile is Binomial(n, q). So the k-th smallest sample X_(k) is an
upper confidence bound on the q-quantile at confidence c when
P(Binomial(n, q) <= k - 1) >= c, and the j-th smallest is a lower bound when
P(Binomial(n, q) >= j) >= c. No assumption on the shape of the distribution is
needed; this is the rule MLPerf LoadGen's early stopping uses (p99 at 95%
confidence needs at least 299 samples: the largest of 299 samples is then an
upper bound). Each bound is one-sided at confidence c; together they form a
two-sided interval at confidence 2c - 1.

Point estimates are order statistics too (`numpy`'s "inverted_cdf": the
ceil(q n)-th smallest sample), never interpolated between samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtr, bdtrc, betaincinv


def upper_rank(n: int, q: float, confidence: float) -> int | None:
    """The 1-based rank k of the smallest order statistic that bounds the q-quantile from above
    with the given confidence, or None when n samples are too few for any bound."""
    _validate(n, q, confidence)
    if n == 0:
        return None
    cdf = bdtr(np.arange(n + 1), n, q)  # cdf[m] = P(B <= m)
    ok = np.flatnonzero(cdf[:n] >= confidence)  # P(B <= k - 1) >= c for k = m + 1 <= n
    return int(ok[0]) + 1 if ok.size else None


def lower_rank(n: int, q: float, confidence: float) -> int | None:
    """The 1-based rank j of the largest order statistic that bounds the q-quantile from below
    with the given confidence, or None when n samples are too few for any bound."""
    _validate(n, q, confidence)
    if n == 0:
        return None
    sf = bdtrc(np.arange(n), n, q)  # sf[m] = P(B > m) = P(B >= m + 1)
    ok = np.flatnonzero(sf >= confidence)  # P(B >= j) >= c for j = m + 1
    return int(ok[-1]) + 1 if ok.size else None


def min_samples(q: float, confidence: float) -> int:
    """The fewest samples for which an upper bound on the q-quantile exists (the largest sample
    bounds it when 1 - q**n >= confidence): 299 for p99 at 95%, 29 for p90 at 95%."""
    _validate(1, q, confidence)
    n = math.ceil(math.log1p(-confidence) / math.log(q))
    # guard against rounding at the boundary: step to the exact smallest n
    while n > 1 and 1 - q ** (n - 1) >= confidence:
        n -= 1
    while 1 - q**n < confidence:
        n += 1
    return n


def point_rank(n: int, q: float) -> int:
    """1-based rank of the order-statistic point estimate of the q-quantile (ceil(q n), at least 1)."""
    return max(1, math.ceil(q * n - 1e-9))


@dataclass(frozen=True)
class QuantileInterval:
    q: float
    confidence: float
    samples: int
    point: float
    lower: float | None  # None: too few samples for a lower bound at this confidence
    upper: float | None  # None: too few samples for an upper bound at this confidence


def quantile_interval(values: Sequence[float] | np.ndarray, q: float, confidence: float) -> QuantileInterval:
    """Point estimate and one-sided order-statistic bounds on the q-quantile of `values`."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    lo, hi = lower_rank(n, q, confidence), upper_rank(n, q, confidence)
    return QuantileInterval(
        q=q,
        confidence=confidence,
        samples=n,
        point=float(x[point_rank(n, q) - 1]),
        lower=None if lo is None else float(x[lo - 1]),
        upper=None if hi is None else float(x[hi - 1]),
    )


def judge(interval: QuantileInterval, budget: float) -> str:
    """pass when the upper bound is within the budget, fail when the lower bound exceeds it,
    otherwise undecided."""
    if interval.upper is not None and interval.upper <= budget:
        return "pass"
    if interval.lower is not None and interval.lower > budget:
        return "fail"
    return "undecided"


def bonferroni(confidence: float, looks: int) -> float:
    """Per-look confidence so that `looks` repeated looks keep the overall error within 1 - confidence."""
    return 1.0 - (1.0 - confidence) / max(1, looks)


def _validate(n: int, q: float, confidence: float) -> None:
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile {q} must be strictly between 0 and 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must be strictly between 0 and 1")
    if n < 0:
        raise ValueError("n must be >= 0")


# --------------------------------------------------------------------------- shares of rows (binomial)
@dataclass(frozen=True)
class ShareInterval:
    """`events` of `samples` rows, with exact (Clopper-Pearson) one-sided bounds on the true share."""

    events: int
    samples: int
    confidence: float
    lower: float
    upper: float

    @property
    def point(self) -> float:
        return self.events / self.samples if self.samples else 0.0


def share_interval(events: int, samples: int, confidence: float) -> ShareInterval:
    """Clopper-Pearson bounds on a binomial share: each one-sided at `confidence` (together a two-sided
    interval at 2c - 1), exact for any sample size, no normal approximation."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must be strictly between 0 and 1")
    if samples <= 0:
        return ShareInterval(0, 0, confidence, 0.0, 1.0)
    if not 0 <= events <= samples:
        raise ValueError(f"{events} events out of {samples} samples")
    alpha = 1.0 - confidence
    lower = 0.0 if events == 0 else float(betaincinv(events, samples - events + 1, alpha))
    upper = 1.0 if events == samples else float(betaincinv(events + 1, samples - events, confidence))
    return ShareInterval(events, samples, confidence, lower, upper)


def judge_share(interval: ShareInterval, limit: float) -> str:
    """pass when the upper bound is within the limit, fail when the lower bound exceeds it, else undecided."""
    if interval.upper <= limit:
        return "pass"
    if interval.lower > limit:
        return "fail"
    return "undecided"


def planned_sizes(first: int, cap: int) -> list[int]:
    """Cumulative sample sizes of a sequential test that doubles from `first` up to `cap` (both included)."""
    first = max(1, min(first, cap))
    sizes = [first]
    while sizes[-1] < cap:
        sizes.append(min(cap, 2 * sizes[-1]))
    return sizes


def mean_bounds(
    values: np.ndarray, confidence: float, rng: np.random.Generator, resamples: int = 2000
) -> tuple[float, float]:
    """One-sided bounds at `confidence` each on the mean of `values`: a seeded percentile bootstrap
    (the 1 - c and c quantiles of the means of `resamples` resamples), as
    `scipy.stats.bootstrap(method="percentile")` at confidence level 2c - 1 gives them."""
    values = np.asarray(values, dtype=np.float64)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [100 * (1 - confidence), 100 * confidence])
    return float(low), float(high)
