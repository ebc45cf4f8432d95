"""A grader measured on labelled pairs (printed answer, reference, the right verdict): agreement with the
labels, the confusion matrix, every disagreement, and the speed. `grade --pairs`, the corpus test and the
grading benchmark all use this.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..data.readers import jsonl_rows
from ..errors import UserError
from .agreement import Agreement, agreement
from .base import Grade, Grader


class Pair(BaseModel):
    """One line of a pairs file: what a program printed and MATH's reference, optionally the statement, the
    right verdict (`label`), why, and an id."""

    answer: str
    reference: str
    problem: str = ""
    label: bool | None = None
    reason: str = ""
    id: str = ""


def read_pairs(path: Path) -> list[Pair]:
    """Every pair of a JSONL file; a bad line is a one-line UserError naming the file and line."""
    if not path.exists():
        raise UserError(f"no such file: {path}")
    pairs = []
    for where, default_id, row in jsonl_rows(path):
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("answer"), str)
            or not isinstance(row.get("reference"), str)
        ):
            raise UserError(f"{where}: expected an object with string fields 'answer' and 'reference'")
        try:
            pair = Pair.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise UserError(f"{where}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        pairs.append(pair if pair.id else pair.model_copy(update={"id": default_id}))
    return pairs


class Graded(BaseModel):
    pair: Pair
    grade: Grade


class LabelledResult(BaseModel):
    """The verdicts in input order; `table` compares the labels (first) with the verdicts (second)."""

    grader: str
    graded: list[Graded]
    seconds: float

    @property
    def labelled(self) -> list[Graded]:
        return [g for g in self.graded if g.pair.label is not None]

    @property
    def table(self) -> Agreement:
        return agreement([bool(g.pair.label) for g in self.labelled], [g.grade.correct for g in self.labelled])

    @property
    def disagreements(self) -> list[Graded]:
        return [g for g in self.labelled if g.grade.correct != g.pair.label]

    @property
    def answers_per_s(self) -> float:
        return len(self.graded) / self.seconds if self.seconds else 0.0


def grade_pairs(grader: Grader, pairs: list[Pair]) -> LabelledResult:
    start = time.perf_counter()
    graded = [Graded(pair=p, grade=grader.grade(p.answer, p.reference, p.problem)) for p in pairs]
    return LabelledResult(grader=grader.name, graded=graded, seconds=time.perf_counter() - start)


def report_lines(result: LabelledResult) -> list[str]:
    """Agreement, the confusion matrix and the disagreements, as plain text lines."""
    t = result.table
    lines = [
        f"{result.grader}: {t.n} labelled pairs, agreement {100 * t.rate:.2f} % "
        f"({t.both_correct + t.both_incorrect}/{t.n}), {result.answers_per_s:.0f} answers/s",
        f"{'':>18}{'graded correct':>16}{'graded incorrect':>18}",
        f"{'label correct':>18}{t.both_correct:>16}{t.first_only:>18}",
        f"{'label incorrect':>18}{t.second_only:>16}{t.both_incorrect:>18}",
    ]
    if result.disagreements:
        lines.append(
            f"{len(result.disagreements)} disagreements (id | answer | reference | label -> verdict | "
            f"reason | how graded):"
        )
    for g in result.disagreements:
        p = g.pair
        lines.append(
            f"  {p.id} | {p.answer[:80]} | {p.reference[:60]} | "
            f"{'correct' if p.label else 'incorrect'} -> {'correct' if g.grade.correct else 'incorrect'} | "
            f"{p.reason[:100]} | {g.grade.status}/{g.grade.method}: {g.grade.detail[:100]}"
        )
    return lines
