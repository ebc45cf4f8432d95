"""The report's figures, drawn once with matplotlib for both the HTML report (PNG data URIs) and papers (vector
files, `figures.py`), at a fixed width: one column (3.3 in) or two (7 in).

Every run keeps one look in every figure: a colour from the Okabe-Ito palette (safe for the common colour-vision
deficiencies), plus a marker, a line style and a hatch, so series stay apart in greyscale too; the heatmap uses
cividis, whose lightness rises monotonically. Each series' artists carry the SVG id `series<i>-<run>-...` (i: the
run's place), so a test (or a reader of the SVG) can tell which run an element draws.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to memory or files only
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import LineStyleType, RcKeyType

from ..data import LEVELS, SUBJECTS
from .paper import paper_model, published
from .summary import Summary

ONE_COLUMN, TWO_COLUMN = 3.3, 7.0  # inches
HTML_DPI = 110
# Okabe & Ito (2008), ordered so that neighbours differ in lightness; their black is left for edges and intervals.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---")
STYLE: dict[RcKeyType, Any] = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": "medium",
    "legend.frameon": False,
    "hatch.linewidth": 0.6,
}


@dataclass(frozen=True)
class Look:
    colour: str
    marker: str
    line: LineStyleType
    hatch: str
    gid: str  # prefix of the SVG ids of this run's artists


def slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")


def looks(labels: Sequence[str]) -> dict[str, Look]:
    """One look per run, by order of appearance; beyond 7 runs colours repeat, each time with another marker
    (3 places on, so the same colour never meets the same marker within 56 runs)."""
    out: dict[str, Look] = {}
    for label in labels:
        if label not in out:
            i = len(out)
            colour, round_ = i % len(PALETTE), i // len(PALETTE)
            out[label] = Look(
                PALETTE[colour],
                MARKERS[(colour + 3 * round_) % len(MARKERS)],
                LINES[(colour + round_) % len(LINES)],
                HATCHES[(colour + round_) % len(HATCHES)],
                f"series{i}-{slug(label)}",
            )
    return out


def _tag(artists: Sequence[Artist], look: Look, what: str) -> None:
    for n, artist in enumerate(artists):
        artist.set_gid(f"{look.gid}-{what}-{n}")


def _figure(width: float, height_two: float, height_one: float) -> Figure:
    return Figure(figsize=(width, height_one if width < TWO_COLUMN else height_two), layout="constrained")


def _legend(fig: Figure, summaries: list[Summary], styles: dict[str, Look], width: float, bars: bool = False) -> None:
    handles: list[Artist] = []
    for s in summaries:
        look = styles[s.label]
        if bars:
            handles.append(Patch(facecolor=look.colour, hatch=look.hatch, edgecolor="black", linewidth=0.4))
        else:
            handles.append(Line2D([], [], color=look.colour, marker=look.marker, linestyle=look.line))
    columns = 1 if width < TWO_COLUMN else min(3, len(summaries))
    fig.legend(handles, [s.label for s in summaries], loc="outside lower center", ncols=columns, fontsize="small")


def accuracy_bars(summaries: list[Summary], width: float, styles: dict[str, Look]) -> Figure:
    """Accuracy per run with its interval; the paper's figure as a diamond on runs of a model it reports."""
    ranked = sorted(summaries, key=lambda s: s.overall.accuracy)
    height = 0.7 + 0.3 * len(ranked)
    fig = _figure(width, height, height)
    ax = fig.add_subplot()
    for y, s in enumerate(ranked):
        look = styles[s.label]
        value = 100 * s.overall.accuracy
        low, high = (100 * v for v in s.overall.interval)
        bars = ax.barh([y], [value], color=look.colour, hatch=look.hatch, edgecolor="black", linewidth=0.4)
        _tag(list(bars), look, "bar")
        (line,) = ax.plot([low, high], [y, y], color="black", linewidth=0.9)
        line.set_gid(f"{look.gid}-ci")
    paper = published()
    marks = [
        (y, f.value)
        for y, s in enumerate(ranked)
        if s.regeneration == "full"
        for f in paper.figures
        if f.statistic == "accuracy" and (m := paper_model(s.model, paper)) and f.model == m.id
    ]
    if marks:
        ax.scatter(
            [v for _, v in marks],
            [y for y, _ in marks],
            marker="D",
            color="white",
            edgecolor="black",
            zorder=3,
            label=f"paper (arXiv {paper.source.arxiv})",
        ).set_gid("paper-figure")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_yticks(range(len(ranked)), [s.label for s in ranked])
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy % (Wilson 95 % interval)")
    return fig


def subject_heatmap(summaries: list[Summary], width: float, styles: dict[str, Look]) -> Figure:
    subjects = [s for s in SUBJECTS if any(s in x.by_subject for x in summaries)]
    grid = [
        [100 * x.by_subject[s].accuracy if s in x.by_subject else float("nan") for x in summaries] for s in subjects
    ]
    fig = _figure(width, 0.9 + 0.3 * len(subjects), 1.1 + 0.3 * len(subjects))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="cividis", vmin=0, vmax=100, aspect="auto")
    labels = [x.label for x in summaries]
    narrow = width < TWO_COLUMN and len(summaries) > 2
    ax.set_xticks(range(len(summaries)), labels, rotation=30 if narrow else 0, ha="right" if narrow else "center")
    ax.set_yticks(range(len(subjects)), subjects)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(
                    j,
                    i,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if value < 55 else "black",
                )
    fig.colorbar(image, ax=ax, label="accuracy %", shrink=0.9)
    return fig


def level_trend(summaries: list[Summary], width: float, styles: dict[str, Look]) -> Figure:
    fig = _figure(width, 3.0, 2.6)
    ax = fig.add_subplot()
    for s in summaries:
        look = styles[s.label]
        levels = [lvl for lvl in LEVELS if lvl in s.by_level]
        acc = [100 * s.by_level[lvl].accuracy for lvl in levels]
        # clip_on=False: markers at 0 and 100 % drawn whole
        lines = ax.plot(levels, acc, marker=look.marker, linestyle=look.line, color=look.colour, clip_on=False)
        _tag(lines, look, "line")
        band = ax.fill_between(
            levels,
            [100 * s.by_level[lvl].interval[0] for lvl in levels],
            [100 * s.by_level[lvl].interval[1] for lvl in levels],
            color=look.colour,
            alpha=0.12,
            linewidth=0,
        )
        band.set_gid(f"{look.gid}-band")
    ax.set_xticks(LEVELS)
    ax.set_ylim(0, 100)
    ax.set_xlabel("MATH level")
    ax.set_ylabel("accuracy %")
    _legend(fig, summaries, styles, width)
    return fig


def capped_curve(summaries: list[Summary], width: float, styles: dict[str, Look]) -> Figure:
    fig = _figure(width, 2.9, 4.2)
    left, right = fig.subplots(1, 2) if width >= TWO_COLUMN else fig.subplots(2, 1, sharex=True)
    for s in summaries:
        look = styles[s.label]
        ks = [c.k for c in s.capped]
        for ax, values, what in (
            (left, [c.accuracy for c in s.capped], "accuracy"),
            (right, [c.unsolved_rate for c in s.capped], "unsolved"),
        ):
            lines = ax.plot(
                ks,
                [100 * v for v in values],
                marker=look.marker,
                linestyle=look.line,
                color=look.colour,
                markersize=4,
                clip_on=False,  # markers at 0 or 100 % drawn whole
            )
            _tag(lines, look, what)
    for ax, title in ((left, "accuracy %"), (right, "unsolved %")):
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("attempts allowed (k)")
    if width >= TWO_COLUMN:
        left.set_xlabel("attempts allowed (k)")
    left.set_ylim(0, 100)
    right.set_ylim(bottom=0)
    _legend(fig, summaries, styles, width)
    return fig


def attempts_histogram(summaries: list[Summary], width: float, styles: dict[str, Look]) -> Figure:
    fig = _figure(width, 2.9, 2.5)
    ax = fig.add_subplot()
    bar = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        look = styles[s.label]
        ks = list(s.attempts_used)
        bars = ax.bar(
            [k - 0.4 + bar * (i + 0.5) for k in ks],
            list(s.attempts_used.values()),
            width=bar,
            color=look.colour,
            hatch=look.hatch,
            edgecolor="black",
            linewidth=0.4,
        )
        _tag(list(bars), look, "bar")
    ax.set_xlabel("attempts used")
    ax.set_ylabel("problems")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, summaries, styles, width, bars=True)
    return fig


Drawing = Callable[[list[Summary], float, dict[str, Look]], Figure]
# The report's figures by name (file stem). A new figure is a function here.
FIGURES: dict[str, Drawing] = {
    "accuracy": accuracy_bars,
    "subjects": subject_heatmap,
    "levels": level_trend,
    "capped": capped_curve,
    "attempts": attempts_histogram,
}
SERIES = ("accuracy", "levels", "capped", "attempts")  # the figures with one series per run


def draw(name: str, summaries: list[Summary], width: float) -> Figure:
    """Figure `name` at `width` inches, in the house style, with every run in its own look."""
    with matplotlib.rc_context({**STYLE, "font.size": 9 if width >= TWO_COLUMN else 7.5}):
        return FIGURES[name](summaries, width, looks([s.label for s in summaries]))


def uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=HTML_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def html_figures(summaries: list[Summary]) -> dict[str, str]:
    """Every figure as a PNG data URI at two-column width, for the HTML report."""
    return {name: uri(draw(name, summaries, TWO_COLUMN)) for name in FIGURES}
