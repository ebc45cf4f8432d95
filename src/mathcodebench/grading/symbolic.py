"""Symbolic equivalence of a printed answer with MATH's LaTeX reference, via math-verify.

Order: the printed line as Python/sympy syntax (what programs print); if it is not that, as LaTeX/text
through math-verify's own parser. The first reading that parses decides, so a lenient fallback can never
turn a wrong reading into a pass.
"""

from __future__ import annotations

import logging

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from .base import Grade, answer_line
from .pyexpr import Rejected, parse_python_expr

logging.getLogger("math_verify").setLevel(logging.ERROR)  # we impose our own deadline (see worker.py)

FLOAT_ROUNDING = 6  # decimals math-verify rounds floats to before comparing; recorded with every grade


def grade_output(stdout: str, reference: str) -> Grade:
    answer = answer_line(stdout)
    if not answer:
        return Grade(correct=False, status="no_answer", method="none", answer="")
    gold = parse(f"${reference}$", extraction_config=[LatexExtractionConfig()]) or parse(reference)
    if not gold:
        return Grade(correct=False, status="error", method="none", answer=answer,
                     detail=f"reference could not be parsed: {reference!r}")
    try:
        if r"\text{" in reference:  # a word or a choice letter: `C` is not the variable C
            raise Rejected("the reference is text")
        value = parse_python_expr(answer)
    except Rejected as why:
        predicted = parse(f"${answer.strip('$')}$", extraction_config=[LatexExtractionConfig()]) or parse(answer)
        if not predicted:
            return Grade(correct=False, status="ok", method="unparsed", answer=answer, detail=str(why))
        ok = verify(gold, predicted, float_rounding=FLOAT_ROUNDING, timeout_seconds=None)
        return Grade(correct=ok, status="ok", method="latex", answer=answer, detail=str(predicted[0]))
    value = _align_with_gold(value, gold[0])
    ok = verify(gold, [value], float_rounding=FLOAT_ROUNDING, timeout_seconds=None)
    return Grade(correct=ok, status="ok", method="sympy", answer=answer, detail=str(value))


def _align_with_gold(value: sympy.Basic, gold: object) -> sympy.Basic:
    """A printed (-2, 6, 1) or [-2, 6, 1] means MATH's pmatrix vector: give it the reference's shape."""
    if isinstance(gold, sympy.MatrixBase) and isinstance(value, sympy.Tuple) and len(value) == len(gold):
        return sympy.ImmutableMatrix(gold.rows, gold.cols, list(value))
    return value
