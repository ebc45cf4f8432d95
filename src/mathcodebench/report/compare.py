"""Models side by side: paired tests on the same problems, the domain gap and the difficulty trend."""

from __future__ import annotations

from math import comb

from pydantic import BaseModel

from ..store import RunData
from .samples import bootstrap_mean
from .summary import run_label


class Paired(BaseModel):
    """Two runs on the problems both finished, compared problem by problem through their solve rates: with one
    sample each this is McNemar's exact test (a sign test on the discordant problems); with repeated samples the
    same sign test on the problems whose solve rates differ, and a bootstrap interval of the mean difference."""

    first: str
    second: str
    n: int
    first_only: int  # problems the first solved more often (with one sample: first right, second wrong)
    second_only: int
    difference: float  # mean solve rate of first minus second, on the shared problems
    p_value: float
    interval: tuple[float, float] | None = None  # 95 % bootstrap interval of the difference (repeated samples)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact p-value: under H0 the b + c discordant pairs split like fair coin flips."""
    n = b + c
    if n == 0:
        return 1.0
    tail: float = sum(comb(n, i) for i in range(0, min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def shared_problems(first: RunData, second: RunData) -> list[str]:
    """Problems both runs finished (every sample graded), in the first run's order; the same id with different
    content is a different problem."""
    second_hash = {p.id: p.content_hash() for p in second.problems}
    return [
        p.id
        for p in first.problems
        if first.finished(p.id) and second.finished(p.id) and second_hash.get(p.id) == p.content_hash()
    ]


def solve_rates(data: RunData, problems: list[str]) -> list[float]:
    return [data.correct(pid) / data.samples for pid in problems]


def paired(first: RunData, second: RunData) -> Paired | None:
    shared = shared_problems(first, second)
    if not shared:
        return None
    a, b = solve_rates(first, shared), solve_rates(second, shared)
    first_only = sum(x > y for x, y in zip(a, b, strict=True))
    second_only = sum(y > x for x, y in zip(a, b, strict=True))
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    repeated = first.samples > 1 or second.samples > 1
    return Paired(
        first=store_label(first),
        second=store_label(second),
        n=len(shared),
        first_only=first_only,
        second_only=second_only,
        difference=sum(diffs) / len(shared),
        p_value=mcnemar_exact(first_only, second_only),
        interval=bootstrap_mean(diffs) if repeated else None,
    )


def all_pairs(runs: list[RunData]) -> list[Paired]:
    """`paired` for every two runs that share problems, in the order given."""
    found = (paired(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :])
    return [p for p in found if p is not None]


def store_label(data: RunData) -> str:
    record = data.record
    return run_label(record.model, record.settings.regeneration, record.recorded.prompt_version, record.settings.method)
