"""Majority voting over a problem's repeated samples: which printed answers say the same thing.

Two answers are one vote when the symbolic grader's readings of them, taken the way the problem's reference
asks (a value, a set, words, a clock time ...), are the same: `0.5` and `1/2`, `x = 3, x = -1` and `[-1, 3]`.
Runs inside the grader's worker process (it imports sympy and may hang, like grading).
"""

from __future__ import annotations

import sympy

from .answer import clean, read_answer
from .compare import same_reading
from .readings import Quantity, Reading
from .reference import read_reference


def answer_classes(answers: dict[int, str], reference: str, rel_tol: float) -> dict[int, int]:
    """sample -> class, where the class is the smallest sample number whose answer is equivalent."""
    golds = read_reference(reference)
    representatives: list[tuple[int, str]] = []
    classes: dict[int, int] = {}
    for sample in sorted(answers):
        answer = answers[sample]
        for first, representative in representatives:
            if _same(answer, representative, golds, rel_tol):
                classes[sample] = first
                break
        else:
            representatives.append((sample, answer))
            classes[sample] = sample
    return classes


def _same(a: str, b: str, golds: tuple[Reading, ...], rel_tol: float) -> bool:
    if clean(a) == clean(b):
        return True
    for gold in golds:
        try:
            for reading_a in read_answer(a, gold, True):
                for reading_b in read_answer(b, gold, True):
                    if same_reading(reading_a, _shaped_like(gold, reading_b), rel_tol):
                        return True
        except Exception:  # a reading this grader cannot make is a non-match, as in grading
            continue
    return False


def _shaped_like(gold: Reading, reading: Reading) -> Reading:
    """One answer standing in for the reference: printed lists are sets where the reference is a set of
    solutions, so `3, -1` and `[-1, 3]` are one vote exactly when both would be right or wrong together."""
    if (
        isinstance(gold, Quantity)
        and isinstance(gold.value, sympy.FiniteSet)
        and isinstance(reading, Quantity)
        and isinstance(reading.value, sympy.Tuple)
    ):
        return Quantity(sympy.FiniteSet(*reading.value), reading.unit, reading.percent)
    return reading
