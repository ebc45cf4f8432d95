"""A grade, the one protocol every grader implements, and the rule for which line of a program's output is
its answer."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

# ok = a verdict was reached; timeout = none within the deadline (incorrect); no_answer = nothing printed;
# unparseable = the judge never gave a valid verdict. "error" is only read from runs stored by older versions.
GradeStatus = Literal["ok", "no_answer", "timeout", "error", "unparseable"]
REL_TOL = 1e-6  # default relative tolerance for a decimal against an exact number; recorded with each grade
DEFAULT_DEADLINE_S = 10.0  # a symbolic comparison still running after this is killed and recorded as timeout


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


class Grader(Protocol):
    """Grades one printed output against one reference. `problem` is the statement (the judge reads it; the
    symbolic grader only for rounding instructions and what a bracketed pair means). Raises GraderUnavailable
    when it cannot reach a verdict for reasons outside the answer."""

    name: str

    def grade(self, output: str, reference: str, problem: str = "") -> Grade: ...

    def close(self) -> None: ...


def answer_line(stdout: str) -> str:
    """The answer is the last non-empty line the program printed (earlier lines are working output), with the
    lines before it that open the brackets it closes: numpy prints a matrix as `[[1 2]` then ` [3 4]]`."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return ""
    start, depth = len(lines) - 1, _open_brackets(lines[-1])
    while depth < 0 and start > 0:
        start -= 1
        depth += _open_brackets(lines[start])
    return " ".join(lines[start:]) if depth == 0 else lines[-1]


def _open_brackets(text: str) -> int:
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")
