"""The report's figures, drawn with matplotlib and embedded as PNG data URIs (the HTML works offline)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..data import LEVELS, SUBJECTS  # noqa: E402
from .summary import Summary  # noqa: E402

plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 110})


def _uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def accuracy_bars(summaries: list[Summary]) -> str:
    ranked = sorted(summaries, key=lambda s: s.overall.accuracy)
    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(ranked)))
    values = [100 * s.overall.accuracy for s in ranked]
    low = [v - 100 * s.overall.interval[0] for v, s in zip(values, ranked, strict=True)]
    high = [100 * s.overall.interval[1] - v for v, s in zip(values, ranked, strict=True)]
    ax.barh([s.label for s in ranked], values, xerr=[low, high], color="#4878a8", capsize=3)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy % (Wilson 95 % interval)")
    return _uri(fig)


def subject_heatmap(summaries: list[Summary]) -> str:
    subjects = [s for s in SUBJECTS if any(s in x.by_subject for x in summaries)]
    grid = [[100 * x.by_subject[s].accuracy if s in x.by_subject else float("nan") for s in subjects]
            for x in summaries]
    fig, ax = plt.subplots(figsize=(1.2 + 1.25 * len(subjects), 0.8 + 0.45 * len(summaries)))
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(subjects)), [s.replace(" ", "\n") for s in subjects])
    ax.set_yticks(range(len(summaries)), [x.label for x in summaries])
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value == value:  # not NaN
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", color="white" if value < 60 else "black")
    fig.colorbar(image, ax=ax, label="accuracy %")
    return _uri(fig)


def level_trend(summaries: list[Summary]) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for s in summaries:
        levels = [lvl for lvl in LEVELS if lvl in s.by_level]
        acc = [100 * s.by_level[lvl].accuracy for lvl in levels]
        line = ax.plot(levels, acc, marker="o", label=s.label)[0]
        ax.fill_between(levels, [100 * s.by_level[lvl].interval[0] for lvl in levels],
                        [100 * s.by_level[lvl].interval[1] for lvl in levels], color=line.get_color(), alpha=0.12)
    ax.set_xticks(LEVELS)
    ax.set_ylim(0, 100)
    ax.set_xlabel("MATH level")
    ax.set_ylabel("accuracy %")
    ax.legend(fontsize=8)
    return _uri(fig)


def capped_curve(summaries: list[Summary]) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    for s in summaries:
        ks = [c.k for c in s.capped]
        left.plot(ks, [100 * c.accuracy for c in s.capped], marker=".", label=s.label)
        right.plot(ks, [100 * c.unsolved_rate for c in s.capped], marker=".", label=s.label)
    for ax, title in ((left, "accuracy %"), (right, "unsolved %")):
        ax.set_xlabel("attempts allowed (k)")
        ax.set_title(title, fontsize=9)
    left.set_ylim(0, 100)
    right.set_ylim(bottom=0)
    left.legend(fontsize=8)
    return _uri(fig)


def attempts_histogram(summaries: list[Summary]) -> str:
    fig, ax = plt.subplots(figsize=(6.5, 3))
    width = 0.8 / max(1, len(summaries))
    for i, s in enumerate(summaries):
        ks = list(s.attempts_used)
        ax.bar([k - 0.4 + width * (i + 0.5) for k in ks], list(s.attempts_used.values()), width=width, label=s.label)
    ax.set_xlabel("attempts used")
    ax.set_ylabel("problems")
    ax.legend(fontsize=8)
    return _uri(fig)
