"""The report's tables as data: one model that the console, the HTML report, LaTeX and CSV all render, so every
number is rounded in one place (`Cell.text`) and a new table is one builder function added to `TABLES`.

A `Table` has a display grid (columns and rows of cells, as a paper shows it) and tidy `records` (one row per
run x cell, unrounded, for analysis). Values that are fractions (accuracy, rates) are stored as fractions and
shown as percentages; differences of fractions are shown as signed points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeVar

from ..data import LEVELS, SUBJECTS
from ..solve import AttemptStatus
from ..store import RunData
from .ablation import Ablation, find_ablations, number
from .compare import Paired, all_pairs
from .console import domain_gap
from .paper import PaperComparison, compare_to_paper
from .summary import Summary, Tally, summarize

Scalar = str | int | float | None
K = TypeVar("K", str, int)
Interval = tuple[float, float]
CAPPED_SHOWN = (1, 2, 3, 5, 10)  # caps shown in the grid besides the run's own (the CSV has every k)
SHORT_SUBJECTS = {
    "Algebra": "Alg.",
    "Counting & Probability": "C\u2009&\u2009P",
    "Geometry": "Geom.",
    "Intermediate Algebra": "Int. Alg.",
    "Number Theory": "NT",
    "Prealgebra": "Prealg.",
    "Precalculus": "Precalc.",
}


class Kind(StrEnum):
    """How a value is shown (the HTML report's rounding)."""

    TEXT = "text"
    COUNT = "count"
    PERCENT = "percent"  # a fraction, shown as a percentage with 1 decimal
    POINTS = "points"  # a difference of fractions, shown as signed percentage points
    RELATIVE = "relative"  # a relative change (fraction), shown as a signed percentage
    NUMBER = "number"  # a cost: thousands whole, small values with 3 significant digits
    SIGNED = "signed"  # a cost difference
    SECONDS = "seconds"  # 1 decimal
    FINE_SECONDS = "fine_seconds"  # 2 decimals
    PVALUE = "pvalue"
    KAPPA = "kappa"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def pts(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "") + number(value)


FORMATS: dict[Kind, Callable[[float], str]] = {
    Kind.COUNT: lambda v: f"{v:,.0f}",
    Kind.PERCENT: pct,
    Kind.POINTS: pts,
    Kind.RELATIVE: pts,
    Kind.NUMBER: number,
    Kind.SIGNED: _signed,
    Kind.SECONDS: lambda v: f"{v:.1f}",
    Kind.FINE_SECONDS: lambda v: f"{v:.2f}",
    Kind.PVALUE: lambda v: f"{v:.3g}",
    Kind.KAPPA: lambda v: f"{v:.3f}",
}


def show(kind: Kind, value: Scalar) -> str:
    if value is None:
        return "–"
    if kind == Kind.TEXT or isinstance(value, str):
        return str(value)
    return FORMATS[kind](value)


@dataclass(frozen=True)
class Cell:
    value: Scalar
    kind: Kind = Kind.TEXT
    ci: Interval | None = None  # 95 % interval, in the value's units
    detail: str = ""  # a smaller second line (what a value is based on)

    def text(self) -> str:
        return show(self.kind, self.value)

    def interval(self) -> tuple[str, str] | None:
        return None if self.ci is None else (show(self.kind, self.ci[0]), show(self.kind, self.ci[1]))


@dataclass(frozen=True)
class Column:
    header: str
    align: Literal["l", "r", "p"] = "r"  # p: running text, wrapped at `width`
    best: Literal["max", "min"] | None = None  # bold the best value of the column (when 2+ rows differ)
    width: float = 0.3  # for "p": a fraction of the line width


@dataclass(frozen=True)
class Table:
    name: str  # file stem and label
    title: str  # the caption's first sentence
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    records: tuple[dict[str, Scalar], ...]  # tidy: unrounded, one per run x cell
    note: str = ""  # the rest of the caption
    best: frozenset[tuple[int, int]] = field(default=frozenset())  # (row, column) of bold cells

    @property
    def caption(self) -> str:
        return f"{self.title}. {self.note}".strip() if self.note else self.title + "."


# Each table's caption: a title and, where it does not depend on the runs, the rest of it.
CAPTIONS: dict[str, tuple[str, str]] = {
    "setup": ("Runs", ""),
    "accuracy": (
        "Accuracy per run",
        (
            "Wilson 95\u2009% intervals in brackets; unsolved: no attempt printed an answer; NT \u2212 rest: "
            "Number Theory's accuracy minus the other subjects' (percentage points)."
        ),
    ),
    "paper": ("The paper's published figures beside ours", ""),
    "subjects": ("Accuracy (%) by subject", ""),
    "levels": ("Accuracy (%) by MATH level (1 easiest, 5 hardest)", "Intervals and counts per cell are in the CSV."),
    "paired": (
        "Paired comparisons on the problems both runs finished",
        (
            "First/second better: problems that run solved (more often); p: McNemar's exact test (two-sided), "
            "with repeated samples the same sign test on solve rates, with a bootstrap interval of \u0394."
        ),
    ),
    "samples": (
        "Repeated samples: pass@k and maj@k",
        (
            "pass@k: the unbiased estimator of Chen et al. (2021); maj@k: the majority answer of the first k "
            "samples; 95\u2009% bootstrap intervals over problems."
        ),
    ),
    "capped": (
        "Accuracy and unsolved rate (%) as if capped at k attempts",
        "Derived from each run: attempts stop at the first answer, so a run at N contains every smaller cap.",
    ),
    "attempts": ("Problems by the number of attempts they used", "1: the first program printed an answer."),
    "statuses": (
        "Attempts by status",
        "Model and sandbox errors are infrastructure failures, not counted as attempts.",
    ),
    "safety": (
        "Unsafe-looking code",
        (
            "Flagged: programs a static classifier flags; problems: problems with a flagged program; "
            "refused: programs the sandbox refused something at run time."
        ),
    ),
    "timing": (
        "Generation and code execution",
        "Summed over all attempts; tokens reused: kept by token-by-token regeneration.",
    ),
    "graders": (
        "Symbolic grader against the LLM judge on the same answers",
        (
            "Agreement and each grader's accuracy in %; \u03ba: Cohen's kappa; only symbolic/only judge: answers "
            "only that grader accepted; counts: the grader whose verdict the accuracy is; judge \u03ba (labels): the "
            "judge's kappa against the labelled corpus (below 0.6: unreliable), where it was measured."
        ),
    ),
}


def table(
    name: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    records: Sequence[dict[str, Scalar]],
    *,
    title: str = "",
    note: str = "",
) -> Table:
    """A table, captioned from CAPTIONS unless given, with its best cells marked: per column, the cells whose
    shown value equals the best one, when at least two rows have a value and they are not all equal."""
    best: set[tuple[int, int]] = set()
    for j, column in enumerate(columns):
        if column.best is None:
            continue
        cells = [(i, row[j]) for i, row in enumerate(rows) if isinstance(row[j].value, int | float)]
        if len(cells) < 2:
            continue
        pick = max if column.best == "max" else min
        top = pick(float(c.value) for _, c in cells)  # type: ignore[arg-type]
        shown = {c.text() for _, c in cells}
        if len(shown) > 1:
            best |= {(i, j) for i, c in cells if c.text() == show(c.kind, top)}
    default_title, default_note = CAPTIONS.get(name, ("", ""))
    return Table(
        name=name,
        title=title or default_title,
        columns=tuple(columns),
        rows=tuple(tuple(r) for r in rows),
        records=tuple(records),
        note=note or default_note,
        best=frozenset(best),
    )


@dataclass(frozen=True)
class ReportInput:
    """Everything the tables are built from, computed once from the runs (`report_input`)."""

    runs: list[RunData]
    summaries: list[Summary]
    pairs: list[Paired]
    ablations: list[Ablation]
    paper: PaperComparison


def report_input(runs: list[RunData]) -> ReportInput:
    summaries = [summarize(data) for data in runs]
    ablations = find_ablations(runs)
    return ReportInput(
        runs=runs,
        summaries=summaries,
        pairs=all_pairs(runs),
        ablations=ablations,
        paper=compare_to_paper(runs, summaries, ablations),
    )


def _run(s: Summary) -> dict[str, Scalar]:
    return {"model": s.model, "regeneration": s.regeneration}


def setup_table(data: ReportInput) -> Table | None:
    columns = (
        Column("run", "l"),
        Column("problems"),
        Column("attempts"),
        Column("grading", "l"),
        Column("judge", "l"),
        Column("sandbox", "l"),
        Column("status", "l"),
    )
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s, run in zip(data.summaries, data.runs, strict=True):
        judge = run.record.settings.judge
        rows.append(
            [
                Cell(s.label),
                Cell(s.overall.n, Kind.COUNT),
                Cell(s.max_attempts, Kind.COUNT),
                Cell(s.grading_mode),
                Cell(judge or "–"),
                Cell(s.sandbox),
                Cell(s.status),
            ]
        )
        records.append(
            {
                **_run(s),
                "dataset": s.dataset,
                "selection_hash": s.selection_hash,
                "problems": s.overall.n,
                "attempts": s.max_attempts,
                "grading": s.grading_mode,
                "judge": judge,
                "sandbox": s.sandbox,
                "status": s.status,
                "database": s.db,
            }
        )
    datasets = sorted({s.dataset for s in data.summaries})
    hashes = sorted({s.selection_hash[:12] for s in data.summaries})
    return table(
        "setup", columns, rows, records, note=f"Dataset {', '.join(datasets)}; selection hash {', '.join(hashes)}."
    )


def accuracy_table(data: ReportInput) -> Table | None:
    columns = (
        Column("run", "l"),
        Column("n"),
        Column("correct"),
        Column("accuracy (%)", best="max"),
        Column("unsolved (%)", best="min"),
        Column("NT \u2212 rest (pts)"),
    )
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in sorted(data.summaries, key=lambda x: -x.overall.accuracy):
        o = s.overall
        unsolved = s.unsolved_rate if o.n else None
        gap = domain_gap(s)
        rows.append(
            [
                Cell(s.label),
                Cell(o.n, Kind.COUNT),
                Cell(o.correct, Kind.COUNT),
                Cell(o.accuracy, Kind.PERCENT, o.interval),
                Cell(unsolved, Kind.PERCENT),
                Cell(gap, Kind.POINTS),
            ]
        )
        records.append(
            {
                **_run(s),
                **_tally(o),
                "unsolved": len(s.unsolved),
                "unsolved_rate": unsolved,
                "number_theory_minus_rest": gap,
            }
        )
    return table("accuracy", columns, rows, records)


def _tally(t: Tally) -> dict[str, Scalar]:
    return {"n": t.n, "correct": t.correct, "accuracy": t.accuracy, "ci_low": t.interval[0], "ci_high": t.interval[1]}


def _by_cell(
    data: ReportInput,
    name: str,
    field: str,
    keys: Sequence[K],
    header: Callable[[K], str],
    cells: Callable[[Summary], Mapping[K, Tally]],
    note: str = "",
) -> Table:
    """Accuracy per run x cell (subject, level): runs as rows, cells as columns, the best run of each in bold."""
    columns = (Column("run", "l"), *(Column(header(k), best="max") for k in keys))
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in data.summaries:
        tallies: Mapping[K, Tally] = cells(s)
        rows.append([Cell(s.label), *(Cell(tallies[k].accuracy if k in tallies else None, Kind.PERCENT) for k in keys)])
        records += [{**_run(s), field: k, **_tally(t)} for k, t in tallies.items()]
    return table(name, columns, rows, records, note=note)


def subjects_table(data: ReportInput) -> Table | None:
    subjects = [x for x in SUBJECTS if any(x in s.by_subject for s in data.summaries)]
    legend = "; ".join(f"{SHORT_SUBJECTS[x]} {x}" for x in subjects)
    return _by_cell(
        data,
        "subjects",
        "subject",
        subjects,
        SHORT_SUBJECTS.__getitem__,
        lambda s: s.by_subject,
        note=f"{legend}. Intervals and counts per cell are in the CSV.",
    )


def levels_table(data: ReportInput) -> Table | None:
    levels = [lvl for lvl in LEVELS if any(lvl in s.by_level for s in data.summaries)]
    return _by_cell(data, "levels", "level", levels, lambda lvl: f"L{lvl}", lambda s: s.by_level)


def paired_table(data: ReportInput) -> Table | None:
    if not data.pairs:
        return None
    columns = (
        Column("first", "l"),
        Column("second", "l"),
        Column("shared"),
        Column("first better"),
        Column("second better"),
        Column("\u0394 (pts)"),
        Column("p"),
    )
    rows = [
        [
            Cell(p.first),
            Cell(p.second),
            Cell(p.n, Kind.COUNT),
            Cell(p.first_only, Kind.COUNT),
            Cell(p.second_only, Kind.COUNT),
            Cell(p.difference, Kind.POINTS, p.interval),
            Cell(p.p_value, Kind.PVALUE),
        ]
        for p in data.pairs
    ]
    records = [
        {
            "first": p.first,
            "second": p.second,
            "shared": p.n,
            "first_better": p.first_only,
            "second_better": p.second_only,
            "difference": p.difference,
            "ci_low": p.interval[0] if p.interval else None,
            "ci_high": p.interval[1] if p.interval else None,
            "p_value": p.p_value,
        }
        for p in data.pairs
    ]
    return table("paired", columns, rows, records)


def samples_table(data: ReportInput) -> Table | None:
    repeated = [s for s in data.summaries if s.samples > 1]
    if not repeated:
        return None
    columns = (Column("run", "l"), Column("samples"), Column("k"), Column("pass@k (%)"), Column("maj@k (%)"))
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in repeated:
        for p, m in zip(s.pass_at, s.maj_at, strict=True):
            rows.append(
                [
                    Cell(s.label if p.k == 1 else ""),
                    Cell(s.samples, Kind.COUNT),
                    Cell(p.k, Kind.COUNT),
                    Cell(p.value, Kind.PERCENT, (p.low, p.high)),
                    Cell(m.value, Kind.PERCENT, (m.low, m.high)),
                ]
            )
            records.append(
                {
                    **_run(s),
                    "samples": s.samples,
                    "k": p.k,
                    "pass_at_k": p.value,
                    "pass_ci_low": p.low,
                    "pass_ci_high": p.high,
                    "maj_at_k": m.value,
                    "maj_ci_low": m.low,
                    "maj_ci_high": m.high,
                }
            )
    return table("samples", columns, rows, records)


def capped_table(data: ReportInput) -> Table | None:
    if not any(s.capped for s in data.summaries):
        return None
    most = max(s.max_attempts for s in data.summaries)
    ks = sorted({k for k in (*CAPPED_SHOWN, *(s.max_attempts for s in data.summaries)) if k <= most})
    columns = (Column("run", "l"), Column("", "l"), *(Column(f"k={k}") for k in ks))
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in data.summaries:
        at = {c.k: c for c in s.capped}
        rows.append(
            [Cell(s.label), Cell("accuracy"), *(Cell(at[k].accuracy if k in at else None, Kind.PERCENT) for k in ks)]
        )
        rows.append(
            [Cell(""), Cell("unsolved"), *(Cell(at[k].unsolved_rate if k in at else None, Kind.PERCENT) for k in ks)]
        )
        records += [{**_run(s), "k": c.k, "accuracy": c.accuracy, "unsolved_rate": c.unsolved_rate} for c in s.capped]
    return table("capped", columns, rows, records)


def attempts_table(data: ReportInput) -> Table | None:
    used = sorted({k for s in data.summaries for k in s.attempts_used})
    if not used:
        return None
    columns = (Column("run", "l"), *(Column(str(k)) for k in used))
    rows = [[Cell(s.label), *(Cell(s.attempts_used.get(k, 0), Kind.COUNT) for k in used)] for s in data.summaries]
    records = [{**_run(s), "attempts": k, "problems": n} for s in data.summaries for k, n in s.attempts_used.items()]
    return table("attempts", columns, rows, records)


def statuses_table(data: ReportInput) -> Table | None:
    order = [x.value for x in AttemptStatus]
    present = sorted({st for s in data.summaries for st in s.statuses}, key=order.index)
    if not present:
        return None
    columns = (Column("run", "l"), *(Column(st.replace("_", " ")) for st in present))
    rows = [[Cell(s.label), *(Cell(s.statuses.get(st, 0), Kind.COUNT) for st in present)] for s in data.summaries]
    records = [{**_run(s), "status": st, "attempts": n} for s in data.summaries for st, n in s.statuses.items()]
    return table("statuses", columns, rows, records)


def safety_table(data: ReportInput) -> Table | None:
    columns = (
        Column("run", "l"),
        Column("programs"),
        Column("flagged"),
        Column("rate (%)"),
        Column("problems"),
        Column("refused"),
        Column("blocked"),
    )
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in data.summaries:
        f = s.safety
        rate = f.flagged_programs / f.programs if f.programs else None
        categories = ", ".join(f"{c} {n}" for c, n in f.by_category.items())
        rows.append(
            [
                Cell(s.label, detail=f"flagged: {categories}" if categories else ""),
                Cell(f.programs, Kind.COUNT),
                Cell(f.flagged_programs, Kind.COUNT),
                Cell(rate, Kind.PERCENT),
                Cell(f"{f.flagged_problems} of {f.problems}"),
                Cell(f.denied_programs, Kind.COUNT),
                Cell(f.blocked, Kind.COUNT),
            ]
        )
        records.append(
            {
                **_run(s),
                "programs": f.programs,
                "flagged_programs": f.flagged_programs,
                "flagged_rate": rate,
                "problems": f.problems,
                "flagged_problems": f.flagged_problems,
                "refused_by_sandbox": f.denied_programs,
                "refused_and_flagged": f.denied_and_flagged,
                "blocked": f.blocked,
                **{f"category_{c}": n for c, n in f.by_category.items()},
            }
        )
    return table("safety", columns, rows, records)


def timing_table(data: ReportInput) -> Table | None:
    columns = (
        Column("run", "l"),
        Column("tokens"),
        Column("generation (s)"),
        Column("execution (s)"),
        Column("tokens reused"),
    )
    rows = [
        [
            Cell(s.label),
            Cell(s.completion_tokens, Kind.COUNT),
            Cell(s.generation_s, Kind.SECONDS),
            Cell(s.execution_s, Kind.FINE_SECONDS),
            Cell(s.tokens_reused if s.regeneration == "tbt" else None, Kind.COUNT),
        ]
        for s in data.summaries
    ]
    records = [
        {
            **_run(s),
            "completion_tokens": s.completion_tokens,
            "generation_s": s.generation_s,
            "execution_s": s.execution_s,
            "tokens_reused": s.tokens_reused,
        }
        for s in data.summaries
    ]
    return table("timing", columns, rows, records)


def graders_table(data: ReportInput) -> Table | None:
    graded = [s for s in data.summaries if s.graders is not None]
    if not graded:
        return None
    columns = (
        Column("run", "l"),
        Column("answers"),
        Column("agree"),
        Column("\u03ba"),
        Column("symbolic"),
        Column("judge"),
        Column("only symbolic"),
        Column("only judge"),
        Column("counts", "l"),
        Column("judge \u03ba (labels)"),
    )
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for s in graded:
        g = s.graders
        assert g is not None
        a = g.agreement
        rows.append(
            [
                Cell(s.label),
                Cell(a.n, Kind.COUNT),
                Cell(g.rate, Kind.PERCENT),
                Cell(g.kappa, Kind.KAPPA),
                Cell(g.symbolic_accuracy, Kind.PERCENT),
                Cell(g.judge_accuracy, Kind.PERCENT),
                Cell(a.first_only, Kind.COUNT),
                Cell(a.second_only, Kind.COUNT),
                Cell(g.decisive),
                Cell(g.calibration.kappa if g.calibration else None, Kind.KAPPA),
            ]
        )
        records.append(
            {
                **_run(s),
                "answers": a.n,
                "agreement": g.rate,
                "kappa": g.kappa,
                "symbolic_accuracy": g.symbolic_accuracy,
                "judge_accuracy": g.judge_accuracy,
                "both_correct": a.both_correct,
                "symbolic_only": a.first_only,
                "judge_only": a.second_only,
                "both_incorrect": a.both_incorrect,
                "decisive": g.decisive,
                "judge_kappa_labels": g.calibration.kappa if g.calibration else None,
                "judge_false_accept_labels": g.calibration.false_accept if g.calibration else None,
            }
        )
    return table("graders", columns, rows, records)


def ablation_tables(data: ReportInput) -> list[Table]:
    out = []
    for a in data.ablations:
        columns = (
            Column("metric", "l"),
            Column("full"),
            Column("tbt"),
            Column("\u0394"),
            Column("\u0394 (%)"),
            Column("paired test", "p", width=0.24),
        )
        rows: list[list[Cell]] = []
        records: list[dict[str, Scalar]] = []
        for r in a.rows:
            rate = r.unit == "%"
            kind = Kind.PERCENT if rate else Kind.NUMBER
            scale = 100 if rate else 1  # rates are stored in percent there
            rows.append(
                [
                    Cell(f"{r.metric} ({r.unit})"),
                    Cell(r.full / scale, kind),
                    Cell(r.tbt / scale, kind),
                    Cell(r.delta / scale, Kind.POINTS if rate else Kind.SIGNED),
                    Cell(r.relative, Kind.RELATIVE),
                    Cell(r.test),
                ]
            )
            records.append(
                {
                    "model": a.model,
                    "metric": r.metric,
                    "unit": r.unit,
                    "full": r.full,
                    "tbt": r.tbt,
                    "delta": r.delta,
                    "relative": r.relative,
                    "test": r.test,
                }
            )
        slug = "".join(ch if ch.isalnum() else "-" for ch in a.model).strip("-")
        out.append(
            table(
                f"ablation-{slug}" if len(data.ablations) > 1 else "ablation",
                columns,
                rows,
                records,
                title=f"{a.model}: token-by-token regeneration (tbt) against full resampling on {a.n} shared problems",
                note=f"\u0394: tbt \u2212 full (points for rates). {a.regenerated_attempts} retries regenerated "
                f"from a failure point, {a.regeneration_points} regeneration points, {a.tokens_reused} tokens reused.",
            )
        )
    return out


PAPER_NOTE = (
    "Ours with 95\u2009% intervals; \u0394: ours \u2212 paper in percentage points; in CI: whether the "
    "paper's figure lies inside our interval."
)
UNIT_KINDS = {"rate": Kind.PERCENT, "points": Kind.POINTS, "relative": Kind.RELATIVE}


def paper_table(data: ReportInput) -> Table | None:
    comparison = data.paper
    if not comparison.rows:
        return None
    columns = (
        Column("quantity", "p", width=0.36),
        Column("paper"),
        Column("ours"),
        Column("\u0394"),
        Column("in CI", "l"),
    )
    rows: list[list[Cell]] = []
    records: list[dict[str, Scalar]] = []
    for r in comparison.rows:
        kind = UNIT_KINDS[r.unit]
        rows.append(
            [
                Cell(r.quantity, detail=f"{r.scope}; {r.note}"),
                Cell(r.published),
                Cell(r.ours, kind, r.ci),
                Cell(r.difference, Kind.POINTS),
                Cell("yes" if r.inside else "no"),
            ]
        )
        records.append(
            {
                "statistic": r.statistic,
                "quantity": r.quantity,
                "scope": r.scope,
                "paper_relation": r.relation,
                "paper": r.paper,
                "ours": r.ours,
                "ci_low": r.ci[0] if r.ci else None,
                "ci_high": r.ci[1] if r.ci else None,
                "difference": r.difference,
                "paper_inside_ci": r.inside,
                "note": r.note,
            }
        )
    return table("paper", columns, rows, records, note=f"Paper: {comparison.source}. {PAPER_NOTE}")


def _singles(*builders: Callable[[ReportInput], Table | None]) -> Callable[[ReportInput], list[Table]]:
    def build(data: ReportInput) -> list[Table]:
        return [t for t in (b(data) for b in builders) if t is not None]

    return build


# The report's tables, in order. A new table is a builder here.
TABLES: tuple[Callable[[ReportInput], list[Table]], ...] = (
    _singles(
        setup_table,
        accuracy_table,
        paper_table,
        subjects_table,
        levels_table,
        paired_table,
        samples_table,
        capped_table,
        attempts_table,
        statuses_table,
        safety_table,
        timing_table,
        graders_table,
    ),
    ablation_tables,
)


def build_tables(data: ReportInput) -> list[Table]:
    return [t for builder in TABLES for t in builder(data)]
