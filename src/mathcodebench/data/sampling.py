"""Which problems a run uses: filters, then the paper's stratified design (K per subject x level), then a limit.

Sampling depends only on the problems' ids and the seed, never on file order: each cell is sorted by id and
drawn with its own generator seeded by (seed, subject, level).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from pydantic import BaseModel, Field

from ..errors import UserError
from .problem import LEVELS, SUBJECTS, Problem


class Selection(BaseModel):
    """How to choose problems; stored with the run."""

    per_cell: int | None = Field(default=None, ge=1)
    seed: int = 0
    subjects: list[str] | None = None
    levels: list[int] | None = None
    ids: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)
    allow_short_cells: bool = False


def select(problems: list[Problem], how: Selection) -> tuple[list[Problem], list[str]]:
    """Return the chosen problems and the cells that had fewer than `per_cell` (only with allow_short_cells)."""
    chosen = problems
    if how.subjects is not None:
        chosen = [p for p in chosen if p.subject in how.subjects]
    if how.levels is not None:
        chosen = [p for p in chosen if p.level in how.levels]
    if how.ids is not None:
        by_id = {p.id: p for p in chosen}
        missing = [i for i in how.ids if i not in by_id]
        if missing:
            raise UserError(f"{len(missing)} requested ids are not in the dataset, e.g. {missing[0]!r}")
        chosen = [by_id[i] for i in dict.fromkeys(how.ids)]
    short: list[str] = []
    if how.per_cell is not None:
        chosen, short = _stratified(chosen, how.per_cell, how.seed, how.allow_short_cells)
    if how.limit is not None:
        chosen = chosen[: how.limit]
    if not chosen:
        raise UserError("the selection is empty (check --subjects, --levels, --ids)")
    return chosen, short


def _stratified(problems: list[Problem], k: int, seed: int, allow_short: bool) -> tuple[list[Problem], list[str]]:
    cells: dict[tuple[str, int], list[Problem]] = defaultdict(list)
    for p in problems:
        cells[(p.subject, p.level)].append(p)
    chosen: list[Problem] = []
    short: list[str] = []
    for subject in SUBJECTS:
        for level in LEVELS:
            members = sorted(cells.get((subject, level), []), key=lambda p: p.id)
            if not members:
                continue
            if len(members) < k:
                if not allow_short:
                    raise UserError(
                        f"cell {subject} / Level {level} has {len(members)} problems, fewer than "
                        f"--per-cell {k} (use --allow-short-cells to take all of them)"
                    )
                short.append(f"{subject} / Level {level}: {len(members)}")
                chosen.extend(members)
                continue
            rng = random.Random(f"{seed}/{subject}/{level}")
            chosen.extend(sorted(rng.sample(members, k), key=lambda p: p.id))
    return chosen, short


def selection_hash(problems: list[Problem]) -> str:
    """One hash for the exact list of problems (ids and contents, in order)."""
    digest = hashlib.sha256()
    for p in problems:
        digest.update(f"{p.id}\t{p.content_hash()}\n".encode())
    return digest.hexdigest()


def parse_levels(text: str) -> list[int]:
    """`1,2,5` or `3-5` -> levels."""
    levels: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            levels.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise UserError(f"--levels {text!r}: expected e.g. '1,2,5' or '3-5'") from None
    if not levels <= set(LEVELS):
        raise UserError(f"--levels {text!r}: levels are 1 to 5")
    return sorted(levels)


def parse_subjects(text: str) -> list[str]:
    from .problem import canonical_subject

    subjects = []
    for name in text.split(","):
        subject = canonical_subject(name.strip())
        if subject is None:
            raise UserError(f"--subjects: unknown subject {name.strip()!r} (known: {', '.join(SUBJECTS)})")
        subjects.append(subject)
    return subjects
