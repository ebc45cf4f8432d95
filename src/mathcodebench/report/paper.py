"""The paper's published figures (package data, `paper.toml`) beside the same statistics computed from our runs:
the difference, and whether the paper's figure lies inside our 95 % interval. A model figure is shown only for
runs of a model the paper ran (matched by name); a statistic over a whole study (the best-to-worst gap, the tbt
effect, the unsafe and unsolved rates) is shown whenever the report computes it, with a note where the
conditions differ from the paper's."""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Literal

from pydantic import BaseModel

from ..store import RunData
from .ablation import Ablation
from .compare import shared_problems, solve_rates
from .samples import bootstrap_mean
from .summary import Summary, Tally, wilson

Statistic = Literal["accuracy", "gap", "tbt_accuracy", "tbt_execution_time", "unsafe", "unsolved"]
Unit = Literal["rate", "points", "relative"]  # a fraction; a difference of fractions; a relative change


class PaperModel(BaseModel):
    id: str  # as the paper writes it
    names: list[str]  # names of the same model on the backends


class PaperFigure(BaseModel):
    statistic: Statistic
    value: float  # in percent (points for differences)
    relation: Literal["=", "<"] = "="  # "<": the paper gives an upper bound
    model: str | None = None  # a PaperModel id, for figures about one model
    quote: str


class PaperSource(BaseModel):
    title: str
    author: str
    year: int
    arxiv: str
    url: str
    where: str
    design: str
    problems: int
    attempts: int

    @property
    def citation(self) -> str:
        return f"{self.author} ({self.year}), arXiv {self.arxiv}, {self.where}"


class Paper(BaseModel):
    source: PaperSource
    models: list[PaperModel]
    figures: list[PaperFigure]


@functools.cache
def published() -> Paper:
    text = resources.files("mathcodebench.report").joinpath("paper.toml").read_text(encoding="utf-8")
    return Paper.model_validate(tomllib.loads(text))


def model_name(spec: str) -> str:
    """A model spec without its backend prefix and default tag, for matching: `ollama/llama3.1:latest` ->
    `llama3.1`, `openai-compatible/meta-llama/Llama-3.1-8B-Instruct` -> `llama-3.1-8b-instruct`."""
    return spec.rsplit("/", 1)[-1].strip().lower().removesuffix(":latest")


def paper_model(spec: str, paper: Paper) -> PaperModel | None:
    name = model_name(spec)
    return next((m for m in paper.models if name in {n.lower() for n in m.names}), None)


class PaperRow(BaseModel):
    statistic: Statistic
    quantity: str
    scope: str  # the run (or runs) our value comes from
    unit: Unit
    relation: Literal["=", "<"]
    paper: float  # fraction (or difference of fractions)
    published: str  # the paper's figure as it printed it, e.g. "3.17", "+0.8", "< 1"
    ours: float
    ci: tuple[float, float] | None  # 95 % interval of ours
    difference: float  # ours - paper
    inside: bool  # the paper's figure (for "<": some value below it) lies inside our interval
    note: str
    quote: str


class PaperComparison(BaseModel):
    source: str
    url: str
    rows: list[PaperRow]


class Context:
    """What the statistics are computed from: the runs, their summaries, and the full-vs-tbt pairs among them."""

    def __init__(self, runs: list[RunData], summaries: list[Summary], ablations: list[Ablation], paper: Paper) -> None:
        self.summaries, self.paper = summaries, paper
        by_path = {str(r.path): r for r in runs}
        self.ablations = [(a, by_path[a.full_db], by_path[a.tbt_db]) for a in ablations]


def _row(
    figure: PaperFigure, quantity: str, scope: str, unit: Unit, ours: float, ci: tuple[float, float] | None, note: str
) -> PaperRow:
    paper = round(figure.value / 100, 8)
    shown = f"{figure.value:g}" if unit == "rate" else f"{figure.value:+g}"
    if ci is None:
        inside = False
    elif figure.relation == "<":
        inside = ci[0] < paper
    else:
        inside = ci[0] <= paper <= ci[1]
    return PaperRow(
        statistic=figure.statistic,
        quantity=quantity,
        scope=scope,
        unit=unit,
        relation=figure.relation,
        paper=paper,
        published=("< " if figure.relation == "<" else "") + shown,
        ours=ours,
        ci=ci,
        difference=ours - paper,
        inside=inside,
        note=note,
        quote=figure.quote,
    )


def _conditions(s: Summary, paper: Paper) -> str:
    return (
        f"{s.overall.n} problems, {s.max_attempts} attempts, {s.grading_mode} grading "
        f"(paper: {paper.source.problems}, {paper.source.attempts}, judge)"
    )


def _accuracy(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    target = next(m for m in ctx.paper.models if m.id == figure.model)
    return [
        _row(
            figure,
            f"accuracy, {target.id}",
            s.label,
            "rate",
            s.overall.accuracy,
            s.overall.interval,
            _conditions(s, ctx.paper),
        )
        for s in ctx.summaries
        if s.regeneration == "full" and s.overall.n and paper_model(s.model, ctx.paper) == target
    ]


def difference_interval(first: Tally, second: Tally) -> tuple[float, float]:
    """95 % interval of the difference of two independent accuracies, from each one's own interval (Newcombe's
    square-and-add method; with Wilson intervals, his hybrid score interval): sound for small samples and near
    0 or 1, where the normal approximation is not."""
    p1, p2 = first.accuracy, second.accuracy
    (l1, u1), (l2, u2) = first.interval, second.interval
    d = p1 - p2
    return (d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def _gap(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    models: dict[str, Summary] = {}
    for s in ctx.summaries:
        if s.regeneration == "full" and s.overall.n:
            models.setdefault(s.model, s)
    if len(models) < 2:
        return []
    ranked = sorted(models.values(), key=lambda s: -s.overall.accuracy)
    best, worst = ranked[0], ranked[-1]
    ci = difference_interval(best.overall, worst.overall)
    return [
        _row(
            figure,
            "best \u2212 worst accuracy",
            f"{best.label} \u2212 {worst.label}",
            "points",
            best.overall.accuracy - worst.overall.accuracy,
            ci,
            f"{len(models)} models here, 10 in the paper; interval for independent samples",
        )
    ]


def _tbt_note(figure: PaperFigure, ablation: Ablation, ctx: Context) -> str:
    same = paper_model(ablation.model, ctx.paper) == next(m for m in ctx.paper.models if m.id == figure.model)
    return f"{ablation.n} shared problems, paired bootstrap" + (
        "" if same else f"; the paper's figure is for {figure.model}, ours for {ablation.model}"
    )


def _tbt_accuracy(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    rows = []
    for ablation, full, tbt in ctx.ablations:
        shared = shared_problems(full, tbt)
        pairs = zip(solve_rates(full, shared), solve_rates(tbt, shared), strict=True)
        low, high = bootstrap_mean([after - before for before, after in pairs])
        row = next(r for r in ablation.rows if r.metric == "accuracy")
        rows.append(
            _row(
                figure,
                "tbt effect on accuracy",
                f"{ablation.model} (tbt \u2212 full)",
                "points",
                row.delta / 100,
                (low, high),
                _tbt_note(figure, ablation, ctx),
            )
        )
    return rows


def _execution_s(data: RunData, problems: list[str]) -> list[float]:
    """Code-execution time per problem, a mean over its samples."""
    return [sum(x.exec_s for u in data.units(p) for x in data.counted(u)) / data.samples for p in problems]


def _tbt_execution_time(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    rows = []
    for ablation, full, tbt in ctx.ablations:
        shared = shared_problems(full, tbt)

        before, after = _execution_s(full, shared), _execution_s(tbt, shared)
        total = sum(before)
        if not total:
            continue
        low, high = bootstrap_mean([b - a for a, b in zip(before, after, strict=True)])
        scale = len(shared) / total  # mean per-problem difference -> change relative to the full run's total
        rows.append(
            _row(
                figure,
                "tbt effect on code-execution time",
                f"{ablation.model} (tbt vs full)",
                "relative",
                (sum(after) - total) / total,
                (low * scale, high * scale),
                _tbt_note(figure, ablation, ctx),
            )
        )
    return rows


def _pooled(ctx: Context) -> str:
    return "all runs pooled" if len(ctx.summaries) > 1 else ctx.summaries[0].label


def _unsafe(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    flagged = sum(s.safety.flagged_programs for s in ctx.summaries)
    programs = sum(s.safety.programs for s in ctx.summaries)
    if not programs:
        return []
    return [
        _row(
            figure,
            "unsafe code (share of programs)",
            _pooled(ctx),
            "rate",
            flagged / programs,
            wilson(flagged, programs),
            f"{flagged} of {programs} programs flagged by the static classifier",
        )
    ]


def _unsolved(figure: PaperFigure, ctx: Context) -> list[PaperRow]:
    cap = ctx.paper.source.attempts
    unsolved = graded = 0
    caps = set()
    for s in ctx.summaries:
        if not s.capped:
            continue
        at = s.capped[min(cap, s.max_attempts) - 1]
        caps.add(at.k)
        units = s.overall.n * s.samples
        unsolved += round(at.unsolved_rate * units)
        graded += units
    if not graded:
        return []
    shown = ", ".join(map(str, sorted(caps)))
    what = "samples" if any(s.samples > 1 for s in ctx.summaries) else "problems"
    note = f"{unsolved} of {graded} {what} after {shown} attempts" + (
        "" if caps == {cap} else f" (the paper allowed {cap})"
    )
    return [
        _row(
            figure,
            f"unsolved after {cap} attempts",
            _pooled(ctx),
            "rate",
            unsolved / graded,
            wilson(unsolved, graded),
            note,
        )
    ]


STATISTICS: dict[str, Callable[[PaperFigure, Context], list[PaperRow]]] = {
    "accuracy": _accuracy,
    "gap": _gap,
    "tbt_accuracy": _tbt_accuracy,
    "tbt_execution_time": _tbt_execution_time,
    "unsafe": _unsafe,
    "unsolved": _unsolved,
}


def compare_to_paper(
    runs: list[RunData], summaries: list[Summary], ablations: list[Ablation], paper: Paper | None = None
) -> PaperComparison:
    """Every published figure the report has a counterpart for, in the data file's order (`ablations`: the
    full-vs-tbt pairs among `runs`, as `find_ablations` gives them)."""
    paper = paper or published()
    ctx = Context(runs, summaries, ablations, paper)
    rows = [row for figure in paper.figures for row in STATISTICS[figure.statistic](figure, ctx)] if runs else []
    return PaperComparison(source=paper.source.citation, url=paper.source.url, rows=rows)
