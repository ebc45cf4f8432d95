"""The HTML report: one self-contained file (styles inline, figures as data URIs) that works offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..data import LEVELS, SUBJECTS
from ..solve import Attempt, AttemptStatus
from ..store import RunData
from . import plots, tables
from .ablation import number
from .console import domain_gap
from .summary import unit_label, unsolved_units

UNSOLVED_SHOWN = 60  # per run; the viewer shows them all


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mathcodebench.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = tables.pct  # the table model's rounding, so LaTeX and CSV agree with this page
    env.filters["pts"] = tables.pts
    env.filters["num"] = number
    return env


def _last_line(attempt: Attempt) -> str:
    lines = attempt.stderr.strip().splitlines()
    return lines[-1][:200] if lines else ""


def _unsolved(data: RunData) -> list[dict[str, object]]:
    problems = {p.id: p for p in data.problems}
    return [
        {
            "problem": problems[unit[0]],
            "label": unit_label(unit, data.samples),
            "attempts": [
                {
                    "number": a.number,
                    "status": a.status.value,
                    "error": a.error_type or "",
                    "detail": _last_line(a) if a.status != AttemptStatus.NO_CODE else a.response[:120],
                }
                for a in data.tried(unit)
            ],
        }
        for unit in unsolved_units(data)[:UNSOLVED_SHOWN]
    ]


def render_html(runs: list[RunData]) -> str:
    built = tables.report_input(runs)
    summaries = built.summaries
    ranked = sorted(summaries, key=lambda s: -s.overall.accuracy)
    statuses = sorted(
        {status for s in summaries for status in s.statuses}, key=lambda st: [x.value for x in AttemptStatus].index(st)
    )
    figures = plots.html_figures(summaries)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            runs=[
                {"summary": s, "record": data.record, "gap": domain_gap(s), "unsolved": _unsolved(data)}
                for s, data in zip(summaries, runs, strict=True)
            ],
            ranked=ranked,
            pairs=built.pairs,
            ablations=built.ablations,
            paper=tables.paper_table(built),
            statuses=statuses,
            figures=figures,
            subjects=[s for s in SUBJECTS if any(s in x.by_subject for x in summaries)],
            levels=[lvl for lvl in LEVELS if any(lvl in x.by_level for x in summaries)],
        )
    )


def write_html(runs: list[RunData], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(runs), encoding="utf-8")
    return path
