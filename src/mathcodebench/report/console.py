"""The terminal report: accuracy per subject and level with 95 % intervals, attempts, failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..grading import JUDGE, SYMBOLIC
from .ablation import Ablation, number
from .compare import Paired
from .summary import Summary, Tally

if TYPE_CHECKING:  # tables builds on this module's statistics
    from . import tables


def _row(label: str, t: Tally) -> list[str]:
    lo, hi = t.interval
    return [label, str(t.n), str(t.correct), f"{100 * t.accuracy:.1f}", f"{100 * lo:.1f}-{100 * hi:.1f}"]


def _accuracy_table(title: str, rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for col in ("n", "correct", "acc %", "95 % CI"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def render(summary: Summary, console: Console) -> None:
    console.print(
        f"[bold]{escape(summary.label)}[/] on [bold]{escape(summary.dataset)}[/]  "
        f"({escape(summary.db)}, {summary.status})"
    )
    console.print(
        f"Selection hash {summary.selection_hash}; grading: {summary.grading_mode}; sandbox: "
        f"{summary.sandbox}; executor: {_executor(summary)}",
        style="dim",
    )
    for warning in summary.warnings:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    o = summary.overall
    rows = [_row(s, t) for s, t in summary.by_subject.items()] + [_row("all", o)]
    console.print(_accuracy_table("Accuracy by subject", rows))
    console.print(
        _accuracy_table("Accuracy by level", [_row(f"Level {lvl}", t) for lvl, t in summary.by_level.items()])
    )
    what = "samples" if summary.samples > 1 else "problems"
    attempts = Table(title=f"Attempts used per {what[:-1]}", title_justify="left")
    attempts.add_column("attempts", justify="right")
    attempts.add_column(what, justify="right")
    for k, count in summary.attempts_used.items():
        attempts.add_row(str(k), str(count))
    console.print(attempts)
    if summary.capped:
        ks = [c for c in summary.capped if c.k in {1, 2, 3, 5} or c.k == summary.max_attempts]
        console.print(
            "As if capped at k attempts: "
            + "; ".join(f"k={c.k}: acc {100 * c.accuracy:.1f} %, unsolved {100 * c.unsolved_rate:.1f} %" for c in ks),
            highlight=False,
        )
    failures = ", ".join(f"{s} {c}" for s, c in summary.statuses.items())
    console.print(f"Attempt statuses: {failures or 'none'}")
    console.print(
        f"Unsolved (no answer after up to {summary.max_attempts} attempts): {len(summary.unsolved)} of "
        + (f"{o.n * summary.samples} samples" if summary.samples > 1 else f"{o.n}")
        + (f"  [{', '.join(summary.unsolved)}]" if summary.unsolved else "")
    )
    if summary.samples > 1:
        _repeated(summary, console)
    if summary.graders is not None:
        _graders(summary, console)
    _safety(summary, console)
    console.print(
        f"Generation {summary.generation_s:.1f} s ({summary.completion_tokens} tokens), "
        f"code execution {summary.execution_s:.1f} s"
    )
    if summary.method == "tir":
        made = sum(count * k for k, count in summary.attempts_used.items())
        console.print(
            f"Tool use: {summary.tool_calls} code blocks run over {made} attempts "
            f"({summary.tool_calls / made if made else 0:.2f} per attempt)",
            highlight=False,
        )
    if len(summary.endpoints) > 1 or any(e.errors for e in summary.endpoints):
        _endpoints(summary, console)
    if summary.regeneration == "tbt":
        console.print(
            f"Token-by-token regeneration: {summary.regenerated_attempts} retries continued a kept prefix "
            f"({summary.tokens_reused} tokens reused)",
            highlight=False,
        )


def _executor(summary: Summary) -> str:
    if summary.executor == "local":
        return "local"
    return f"{summary.executor}, {len(summary.nodes)} nodes ({', '.join(summary.nodes)})"


def _endpoints(summary: Summary, console: Console) -> None:
    """Requests per model endpoint: how the load was spread and which server failed."""
    table = Table(title="Model endpoints (all sessions)", title_justify="left")
    table.add_column("role")
    table.add_column("endpoint")
    for col in ("requests", "answered", "errors", "taken out", "mean s", "max s"):
        table.add_column(col, justify="right")
    for e in summary.endpoints:
        mean = f"{e.mean_latency_s:.2f}" if e.mean_latency_s is not None else "-"
        table.add_row(
            e.role,
            escape(e.url),
            str(e.requests),
            str(e.answered),
            str(e.errors),
            str(e.taken_out),
            mean,
            f"{e.max_latency_s:.2f}",
        )
    console.print(table)


def _repeated(summary: Summary, console: Console) -> None:
    """pass@k and maj@k with bootstrap intervals, and how often each problem was solved."""
    table = Table(
        title=f"{summary.samples} samples per problem: pass@k and maj@k (95 % bootstrap CI over problems)",
        title_justify="left",
    )
    table.add_column("k", justify="right")
    table.add_column("pass@k %", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("maj@k %", justify="right")
    table.add_column("95 % CI", justify="right")
    for p, m in zip(summary.pass_at, summary.maj_at, strict=True):
        table.add_row(
            str(p.k),
            f"{100 * p.value:.1f}",
            f"{100 * p.low:.1f}-{100 * p.high:.1f}",
            f"{100 * m.value:.1f}",
            f"{100 * m.low:.1f}-{100 * m.high:.1f}",
        )
    console.print(table)
    rates = ", ".join(f"{c}/{summary.samples}: {n}" for c, n in summary.solve_rates.items())
    console.print(
        f"Problems by samples correct: {rates}; mean accuracy over samples {100 * summary.overall.accuracy:.1f} %",
        highlight=False,
    )


def render_ablation(ablation: Ablation, console: Console) -> None:
    """Full resampling against token-by-token regeneration, paired on the same problems."""
    table = Table(
        title=f"{ablation.model}: full vs tbt regeneration on {ablation.n} shared problems", title_justify="left"
    )
    for col in ("metric", "full", "tbt", "Δ", "Δ %", "paired test"):
        table.add_column(col, justify="left" if col in ("metric", "paired test") else "right")
    for r in ablation.rows:
        delta = f"{r.delta:+.1f} pts" if r.unit == "%" else ("+" if r.delta >= 0 else "") + number(r.delta)
        relative = "" if r.relative is None else f"{100 * r.relative:+.1f}"
        shown = (f"{r.full:.1f}", f"{r.tbt:.1f}") if r.unit == "%" else (number(r.full), number(r.tbt))
        table.add_row(f"{r.metric} ({r.unit})", *shown, delta, relative, r.test)
    console.print(table)
    console.print(
        f"tbt: {ablation.regenerated_attempts} retries regenerated from a failure point, "
        f"{ablation.regeneration_points} regeneration points, {ablation.tokens_reused} tokens reused",
        highlight=False,
    )


def _graders(summary: Summary, console: Console) -> None:
    g = summary.graders
    assert g is not None
    a = g.agreement
    table = Table(title=f"{SYMBOLIC.capitalize()} grader vs {JUDGE} on {a.n} answers", title_justify="left")
    table.add_column("")
    table.add_column(f"{JUDGE}: correct", justify="right")
    table.add_column(f"{JUDGE}: incorrect", justify="right")
    table.add_row(f"{SYMBOLIC}: correct", str(a.both_correct), str(a.first_only))
    table.add_row(f"{SYMBOLIC}: incorrect", str(a.second_only), str(a.both_incorrect))
    console.print(table)
    kappa = "undefined (a grader is constant)" if g.kappa is None else f"{g.kappa:.3f}"
    console.print(
        f"Agreement {100 * g.rate:.1f} %, Cohen's kappa {kappa}; accuracy {SYMBOLIC} "
        f"{100 * g.symbolic_accuracy:.1f} %, {JUDGE} {100 * g.judge_accuracy:.1f} %"
    )
    console.print(escape(g.roles), highlight=False)
    if g.disagreements:
        rows = Table(title="Disagreements (review these)", title_justify="left")
        for col in ("problem", "printed answer", "reference", SYMBOLIC, JUDGE):
            rows.add_column(col)
        for d in g.disagreements:
            rows.add_row(
                d.problem_id,
                d.answer[:60],
                d.reference[:40],
                "correct" if d.symbolic else "incorrect",
                f"{'correct' if d.judge else 'incorrect'} ({d.judge_score})",
            )
        console.print(rows)


def render_comparison(summaries: list[Summary], pairs: list[Paired], console: Console) -> None:
    """One row per run (with the Number Theory gap and the level 1 -> 5 trend), then paired tests."""
    table = Table(title="Models compared", title_justify="left")
    for col in ("model", "n", "correct", "acc %", "95 % CI", "unsolved", "NT - rest", "L1 -> L5", "selection"):
        table.add_column(col, justify="left" if col in ("model", "selection") else "right")
    ranked = sorted(summaries, key=lambda s: -s.overall.accuracy)
    for s in ranked:
        lo, hi = s.overall.interval
        table.add_row(
            escape(s.label),
            str(s.overall.n),
            str(s.overall.correct),
            f"{100 * s.overall.accuracy:.1f}",
            f"{100 * lo:.1f}-{100 * hi:.1f}",
            str(len(s.unsolved)),
            _points(domain_gap(s)),
            _trend(s),
            s.selection_hash[:12],
        )
    console.print(table)
    if len(ranked) > 1:
        console.print(
            f"Best to worst: {100 * (ranked[0].overall.accuracy - ranked[-1].overall.accuracy):.1f} points "
            f"({ranked[0].label} vs {ranked[-1].label})",
            highlight=False,
        )
    if len({s.selection_hash for s in summaries}) > 1:
        console.print("[yellow]The runs used different problem selections: compare with care.[/]")
    if pairs:
        repeated = any(p.interval is not None for p in pairs)
        rows = Table(
            title="Paired on the same problems (McNemar exact test"
            + ("; with repeated samples, a sign test on per-problem solve rates" if repeated else "")
            + ")",
            title_justify="left",
        )
        for col in ("first", "second", "shared", "first better", "second better", "diff points", "p") + (
            ("95 % CI",) if repeated else ()
        ):
            rows.add_column(col, justify="left" if col in ("first", "second") else "right")
        for p in pairs:
            ci = (
                [f"{100 * p.interval[0]:+.1f} to {100 * p.interval[1]:+.1f}" if p.interval else "-"] if repeated else []
            )
            rows.add_row(
                p.first,
                p.second,
                str(p.n),
                str(p.first_only),
                str(p.second_only),
                f"{100 * p.difference:+.1f}",
                f"{p.p_value:.3g}",
                *ci,
            )
        console.print(rows)


def domain_gap(s: Summary) -> float | None:
    """Number Theory's accuracy minus the rest's (the paper's hardest domain)."""
    nt = s.by_subject.get("Number Theory")
    rest = [t for name, t in s.by_subject.items() if name != "Number Theory"]
    rest_n = sum(t.n for t in rest)
    if nt is None or not nt.n or not rest_n:
        return None
    return nt.accuracy - sum(t.correct for t in rest) / (rest_n * s.samples)


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def _trend(s: Summary) -> str:
    low, high = s.by_level.get(1), s.by_level.get(5)
    if not (low and high):
        return "-"
    return f"{100 * low.accuracy:.0f} -> {100 * high.accuracy:.0f}"


def _safety(summary: Summary, console: Console) -> None:
    s = summary.safety
    if not s.programs:
        return
    rate = 100 * s.flagged_programs / s.programs
    problems = 100 * s.flagged_problems / s.problems if s.problems else 0.0
    categories = ", ".join(f"{c} {n}" for c, n in s.by_category.items()) or "none"
    console.print(
        f"Unsafe-looking code (static): {s.flagged_programs} of {s.programs} programs ({rate:.1f} %), "
        f"{s.flagged_problems} of {s.problems} problems ({problems:.1f} %); by category: {categories}"
        + (f"; {s.blocked} blocked" if s.blocked else ""),
        highlight=False,
    )
    console.print(
        f"Refused by the sandbox at run time: {s.denied_programs} programs "
        f"({s.denied_and_flagged} of them also flagged statically)",
        highlight=False,
    )


def render_table(t: tables.Table, console: Console) -> None:
    """Any table of the table model (report/tables.py), with its caption's note below it."""
    shown = Table(title=t.title, title_justify="left")
    for column in t.columns:
        shown.add_column(
            column.header,
            justify="right" if column.align == "r" else "left",
            overflow="fold",
            max_width=48 if column.align == "p" else None,
        )
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            text = escape(c.text())
            if (i, j) in t.best:
                text = f"[bold]{text}[/]"
            if (interval := c.interval()) is not None:
                text += f" [{interval[0]}, {interval[1]}]"
            if c.detail:
                text += f"\n[dim]{escape(c.detail)}[/]"
            cells.append(text)
        shown.add_row(*cells)
    console.print(shown)
    if t.note:
        console.print(t.note, style="dim", highlight=False)
