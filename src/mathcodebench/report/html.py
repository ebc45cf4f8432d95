"""The HTML report: one self-contained file (styles inline, figures as data URIs) that works offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..data import LEVELS, SUBJECTS
from ..solve import Attempt, AttemptStatus
from ..store import RunData
from . import plots
from .ablation import find_ablations, number
from .compare import all_pairs
from .console import domain_gap
from .summary import Summary, summarize

UNSOLVED_SHOWN = 60  # per run; the viewer shows them all


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("mathcodebench.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}"
    env.filters["pts"] = lambda v: "–" if v is None else f"{100 * v:+.1f}"
    env.filters["num"] = number
    return env


def _last_line(attempt: Attempt) -> str:
    lines = attempt.stderr.strip().splitlines()
    return lines[-1][:200] if lines else ""


def _unsolved(data: RunData, summary: Summary) -> list[dict[str, object]]:
    problems = {p.id: p for p in data.problems}
    attempts = data.attempts
    return [{"problem": problems[pid],
             "attempts": [{"number": a.number, "status": a.status.value, "error": a.error_type or "",
                           "detail": _last_line(a) if a.status != AttemptStatus.NO_CODE else a.response[:120]}
                          for a in attempts.get(pid, [])]}
            for pid in summary.unsolved[:UNSOLVED_SHOWN]]


def render_html(runs: list[RunData]) -> str:
    summaries = [summarize(data) for data in runs]
    ranked = sorted(summaries, key=lambda s: -s.overall.accuracy)
    pairs = all_pairs(runs)
    statuses = sorted({status for s in summaries for status in s.statuses},
                      key=lambda st: [x.value for x in AttemptStatus].index(st))
    figures = {
        "accuracy": plots.accuracy_bars(summaries),
        "subjects": plots.subject_heatmap(summaries),
        "levels": plots.level_trend(summaries),
        "capped": plots.capped_curve(summaries),
        "attempts": plots.attempts_histogram(summaries),
    }
    return _environment().get_template("report.html.j2").render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        runs=[{"summary": s, "record": data.record, "gap": domain_gap(s), "unsolved": _unsolved(data, s)}
              for s, data in zip(summaries, runs, strict=True)],
        ranked=ranked, pairs=pairs, ablations=find_ablations(runs), statuses=statuses, figures=figures,
        subjects=[s for s in SUBJECTS if any(s in x.by_subject for x in summaries)],
        levels=[lvl for lvl in LEVELS if any(lvl in x.by_level for x in summaries)],
    )


def write_html(runs: list[RunData], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(runs), encoding="utf-8")
    return path
