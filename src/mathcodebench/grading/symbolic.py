"""Symbolic equivalence of a printed answer with MATH's LaTeX reference.

The reference is read once into what it denotes (`reference.py`), the printed line the way that reading asks
(`answer.py`), and the two compared (`compare.py`). The problem statement, when given, settles what a
bracketed pair `[1, 5]` is against an open-interval-looking reference `(1, 5)`: a point where the problem
asks for a point or an ordered pair, else interval notation. Every pair gets a verdict: a reading that fails
is a reading that does not match, never an error.
"""

from __future__ import annotations

import re

import sympy

from .answer import read_answer
from .base import REL_TOL, Grade, answer_line
from .compare import same_reading
from .readings import Quantity, Reading
from .reference import read_reference

MAX_ANSWER_CHARS = 10_000
_POINT = re.compile(r"ordered (?:pair|triple)|\bpoints?\b|coordinates", re.I)
_PERCENT = re.compile(r"percent|\\?%", re.I)


def grade_output(stdout: str, reference: str, rel_tol: float = REL_TOL, problem: str = "") -> Grade:
    answer = answer_line(stdout)
    if not answer:
        return Grade(correct=False, status="no_answer", method="none", answer="")
    if len(answer) > MAX_ANSWER_CHARS:  # no MATH answer is this long; reading it would only cost time
        return Grade(
            correct=False,
            status="ok",
            method="unparsed",
            answer=answer[:200],
            detail=f"longer than {MAX_ANSWER_CHARS} characters",
        )
    try:
        return _grade(answer, reference, rel_tol, problem)
    except Exception as exc:  # a reading this grader cannot make is a non-match, not a missing verdict
        return Grade(
            correct=False, status="ok", method="failed", answer=answer, detail=f"{type(exc).__name__}: {exc}"[:500]
        )


def _grade(answer: str, reference: str, rel_tol: float, problem: str) -> Grade:
    interval_brackets = not (_POINT.search(problem) and "interval" not in problem.lower())
    percent_question = bool(_PERCENT.search(problem)) if problem.strip() else None
    tried: list[tuple[Reading, Reading]] = []
    for gold in read_reference(reference):
        for pred in read_answer(answer, gold, interval_brackets):
            tried.append((pred, gold))
            if same_reading(pred, gold, rel_tol, percent_question):
                return _verdict(True, answer, pred, gold, rel_tol)
    if not tried:
        return Grade(
            correct=False,
            status="ok",
            method="unparsed",
            answer=answer,
            detail=f"not readable as {type(read_reference(reference)[0]).__name__.lower()}",
        )
    return _verdict(False, answer, *tried[0], rel_tol)


def _verdict(correct: bool, answer: str, pred: Reading, gold: Reading, rel_tol: float) -> Grade:
    if isinstance(pred, Quantity) and isinstance(gold, Quantity):
        numeric = all(isinstance(v, sympy.Expr) and v.is_number for v in (pred.value, gold.value)) and any(
            isinstance(v, sympy.Basic) and v.has(sympy.Float) for v in (pred.value, gold.value)
        )
        method = "numeric" if numeric else "sympy"
        detail = f"{_short(pred.value)} vs {_short(gold.value)}" + (f" (rel_tol={rel_tol:g})" if numeric else "")
    else:
        method, detail = type(gold).__name__.lower(), f"{pred} vs {gold}"
    return Grade(correct=correct, status="ok", method=method, answer=answer, detail=detail[:500])


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 200 else f"{text[:90]}...{text[-90:]}"
