"""Statistics of repeated samples (`--samples N`): pass@k, maj@k and intervals that respect shared problems.

- pass@k: the unbiased estimator of Chen et al. (2021), per problem 1 - C(n - c, k) / C(n, k) with n samples
  of which c are correct, averaged over problems.
- maj@k: the majority vote over the answers of the first k samples (answers grouped by symbolic equivalence
  when the problem was graded, see grading/vote.py; samples that printed nothing do not vote); a tie goes to
  the class whose first answer came earliest; the vote is right when that class's first answer was graded
  correct.
- Intervals: the N samples of a problem are not independent draws of the benchmark, so intervals come from a
  bootstrap over problems (seeded: the same numbers every time).
"""

from __future__ import annotations

import random
from collections import Counter
from math import comb

from pydantic import BaseModel

BOOTSTRAP = 4000


class AtK(BaseModel):
    """A rate at k samples, with its 95 % bootstrap interval over problems."""

    k: int
    value: float
    low: float
    high: float


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def ks(samples: int) -> list[int]:
    """1, 2, 4, ... up to the number of samples, and the number itself."""
    out, k = [], 1
    while k < samples:
        out.append(k)
        k *= 2
    return [*out, samples]


def bootstrap_mean(values: list[float], seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean, resampling the values (problems) with replacement."""
    if not values:
        return (0.0, 1.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP))
    return means[int(0.025 * BOOTSTRAP)], means[int(0.975 * BOOTSTRAP) - 1]


def at_k(per_problem: list[float], k: int) -> AtK:
    low, high = bootstrap_mean(per_problem)
    return AtK(k=k, value=sum(per_problem) / len(per_problem) if per_problem else 0.0, low=low, high=high)


def majority_correct(classes: dict[int, int], correct: dict[int, bool], k: int) -> bool:
    """Is the majority answer of samples 1..k right? `classes`: sample -> class (its first sample); `correct`:
    sample -> final verdict."""
    votes = Counter(cls for sample, cls in classes.items() if sample <= k)
    if not votes:
        return False
    winner = min(votes, key=lambda cls: (-votes[cls], cls))
    return correct.get(winner, False)
