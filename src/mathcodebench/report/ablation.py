"""Token-by-token regeneration against full resampling: two runs of one model on the same problems with the
same seeds, compared problem by problem (McNemar for right/unsolved, a paired bootstrap for costs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from ..solve import Attempt, AttemptStatus
from ..store import RunData
from .compare import mcnemar_exact, shared_problems, solve_rates
from .samples import bootstrap_mean


class AblationRow(BaseModel):
    metric: str
    unit: str  # "%" (rates, Δ in points), "mean" or "total"
    full: float
    tbt: float
    delta: float  # tbt - full (points for rates)
    relative: float | None  # delta / full, for costs
    test: str  # the paired test and its result


class Ablation(BaseModel):
    model: str
    full_db: str
    tbt_db: str
    n: int  # problems both runs finished
    rows: list[AblationRow]
    regenerated_attempts: int  # tbt retries that continued a kept prefix
    tokens_reused: int
    regeneration_points: int  # failure points plus invalid lines cut


def number(value: float) -> str:
    """A cost for a table: thousands as whole numbers, small values with 3 significant digits."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def _sum(values: list[float]) -> float:
    return float(sum(values))


def _rate_row(metric: str, full: list[float], tbt: list[float]) -> AblationRow:
    """Per-problem rates (with one sample, 0 or 1): McNemar's exact test, i.e. a sign test on the problems where
    the two differ."""
    n = len(full)
    b = sum(f > t for f, t in zip(full, tbt, strict=True))
    c = sum(t > f for f, t in zip(full, tbt, strict=True))
    a_rate, b_rate = 100 * sum(full) / n, 100 * sum(tbt) / n
    return AblationRow(
        metric=metric,
        unit="%",
        full=a_rate,
        tbt=b_rate,
        delta=b_rate - a_rate,
        relative=None,
        test=f"McNemar p={mcnemar_exact(b, c):.3g} ({b} only full, {c} only tbt)",
    )


def _cost_row(metric: str, unit: str, full: list[float], tbt: list[float]) -> AblationRow:
    low, high = bootstrap_mean([b - a for a, b in zip(full, tbt, strict=True)])
    a, b = (_sum(full), _sum(tbt)) if unit == "total" else (_sum(full) / len(full), _sum(tbt) / len(tbt))
    return AblationRow(
        metric=metric,
        unit=unit,
        full=a,
        tbt=b,
        delta=b - a,
        relative=(b - a) / a if a else None,
        test=f"per problem Δ 95% CI [{low:+.3g}, {high:+.3g}]",
    )


def _wall_s(data: RunData) -> float | None:
    record = data.record
    if not record.finished_at:
        return None
    return (datetime.fromisoformat(record.finished_at) - datetime.fromisoformat(record.started_at)).total_seconds()


def ablation(full: RunData, tbt: RunData) -> Ablation | None:
    shared = shared_problems(full, tbt)
    if not shared:
        return None
    runs = (full, tbt)

    def per_problem(of: Callable[[list[Attempt]], float]) -> tuple[list[float], list[float]]:
        """A cost or rate per problem: summed over its samples' counted attempts, as a mean per sample."""

        def value(data: RunData, pid: str) -> float:
            return sum(of(data.counted(u)) for u in data.units(pid)) / data.samples

        return [value(runs[0], p) for p in shared], [value(runs[1], p) for p in shared]

    def unsolved(attempts: list[Attempt]) -> float:
        return float(not any(a.status == AttemptStatus.ANSWERED for a in attempts))

    rows = [
        _rate_row("accuracy", solve_rates(full, shared), solve_rates(tbt, shared)),
        _rate_row("unsolved", *per_problem(unsolved)),
        _cost_row("attempts per problem", "mean", *per_problem(len)),
        _cost_row("tokens generated", "total", *per_problem(lambda a: sum(x.completion_tokens for x in a))),
        _cost_row("generation time (s)", "total", *per_problem(lambda a: sum(x.gen_s for x in a))),
        _cost_row("code-execution time (s)", "total", *per_problem(lambda a: sum(x.exec_s for x in a))),
    ]
    walls = (_wall_s(full), _wall_s(tbt))
    if walls[0] is not None and walls[1] is not None:
        delta = walls[1] - walls[0]
        rows.append(
            AblationRow(
                metric="wall time (s)",
                unit="total",
                full=walls[0],
                tbt=walls[1],
                delta=delta,
                relative=delta / walls[0] if walls[0] else None,
                test="whole runs, not paired",
            )
        )
    regenerated = [a for p in shared for u in tbt.units(p) for a in tbt.tried(u) if a.regeneration]
    return Ablation(
        model=full.record.model,
        full_db=str(full.path),
        tbt_db=str(tbt.path),
        n=len(shared),
        rows=rows,
        regenerated_attempts=len(regenerated),
        tokens_reused=sum(a.tokens_reused or 0 for a in regenerated),
        regeneration_points=sum(len(a.regeneration) for a in regenerated),
    )


def _same_but_regeneration(full: RunData, tbt: RunData) -> bool:
    """An ablation isolates the retries: the same model, told the same, solving the same way."""
    a, b = full.record, tbt.record
    return (
        a.model == b.model
        and a.recorded.prompt_version == b.recorded.prompt_version
        and a.settings.samples == b.settings.samples
        and a.settings.method == b.settings.method
    )


def find_ablations(runs: list[RunData]) -> list[Ablation]:
    """Every (full, tbt) pair of runs of the same model that share problems."""
    out = []
    for full in (r for r in runs if r.record.settings.regeneration == "full"):
        for tbt in (r for r in runs if r.record.settings.regeneration == "tbt"):
            if _same_but_regeneration(full, tbt) and (found := ablation(full, tbt)):
                out.append(found)
    return out
