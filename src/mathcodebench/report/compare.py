"""Models side by side: paired tests on the same problems, the domain gap and the difficulty trend."""

from __future__ import annotations

from math import comb

from pydantic import BaseModel

from ..store import RunData
from .summary import run_label


class Paired(BaseModel):
    """McNemar's exact test on the problems both runs graded."""

    first: str
    second: str
    n: int
    first_only: int  # first right, second wrong
    second_only: int
    difference: float  # accuracy of first minus second, on the shared problems
    p_value: float


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact p-value: under H0 the b + c discordant pairs split like fair coin flips."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(0, min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def shared_problems(first: RunData, second: RunData) -> list[str]:
    """Problems both runs finished (graded), in the first run's order; the same id with different content
    is a different problem."""
    a, b = first.final, second.final
    second_hash = {p.id: p.content_hash() for p in second.problems}
    return [p.id for p in first.problems if p.id in a and p.id in b and second_hash.get(p.id) == p.content_hash()]


def paired(first: RunData, second: RunData) -> Paired | None:
    a, b = first.final, second.final
    shared = shared_problems(first, second)
    if not shared:
        return None
    first_only = sum(a[p].correct and not b[p].correct for p in shared)
    second_only = sum(b[p].correct and not a[p].correct for p in shared)
    return Paired(first=store_label(first), second=store_label(second), n=len(shared),
                  first_only=first_only, second_only=second_only,
                  difference=(first_only - second_only) / len(shared), p_value=mcnemar_exact(first_only, second_only))


def all_pairs(runs: list[RunData]) -> list[Paired]:
    """`paired` for every two runs that share problems, in the order given."""
    found = (paired(a, b) for i, a in enumerate(runs) for b in runs[i + 1:])
    return [p for p in found if p is not None]


def store_label(data: RunData) -> str:
    return run_label(data.record.model, data.record.settings.regeneration)
