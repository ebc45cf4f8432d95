"""A grade, and the rule for which line of a program's output is its answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

GradeStatus = Literal["ok", "no_answer", "timeout", "error", "unparseable"]
REL_TOL = 1e-6  # default relative tolerance for a decimal against an exact number; recorded with each grade


class GraderUnavailable(Exception):
    """A grader could not reach a verdict for reasons outside the answer (its model backend is down): the item
    stays ungraded, to be graded again later; it is never counted as incorrect."""


class Grade(BaseModel):
    correct: bool
    status: GradeStatus  # ok = a verdict was reached; anything else counts as incorrect
    method: str  # how the verdict was reached: sympy, latex, none, ...
    answer: str  # the exact text that was graded
    detail: str = ""
    score: int | None = None  # the judge's 1-5 score


def answer_line(stdout: str) -> str:
    """The answer is the last non-empty line the program printed (earlier lines are working output)."""
    for line in reversed(stdout.splitlines()):
        if line.strip():
            return line.strip()
    return ""
