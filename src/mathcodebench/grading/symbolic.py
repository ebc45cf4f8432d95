"""Symbolic equivalence of a printed answer with MATH's LaTeX reference, via math-verify.

Order: the printed line as Python/sympy syntax (what programs print); if it is not that, as LaTeX/text
through math-verify's own parser. The first reading that parses decides, so a lenient fallback can never
turn a wrong reading into a pass. A decimal compared with an exact number must lie within a relative
tolerance (recorded with the grade); inside structures (tuples, intervals) math-verify compares floats
rounded to FLOAT_ROUNDING decimals.
"""

from __future__ import annotations

import logging
import re

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from .base import REL_TOL, Grade, answer_line
from .pyexpr import Rejected, parse_python_expr

logging.getLogger("math_verify").setLevel(logging.ERROR)  # we impose our own deadline (see worker.py)

FLOAT_ROUNDING = 6
_LABEL = re.compile(r"^(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:=]?\s*", re.I)


def grade_output(stdout: str, reference: str, rel_tol: float = REL_TOL) -> Grade:
    answer = answer_line(stdout)
    if not answer:
        return Grade(correct=False, status="no_answer", method="none", answer="")
    text = _LABEL.sub("", answer).strip() or answer  # "Answer: 5" -> "5"
    gold = parse(f"${reference}$", extraction_config=[LatexExtractionConfig()]) or parse(reference)
    if not gold:
        return Grade(correct=False, status="error", method="none", answer=answer,
                     detail=f"reference could not be parsed: {reference!r}")
    try:
        if r"\text{" in reference:  # a word or a choice letter: `C` is not the variable C
            raise Rejected("the reference is text")
        value = parse_python_expr(text)
    except Rejected as why:
        predicted = parse(f"${text.strip('$')}$", extraction_config=[LatexExtractionConfig()]) or parse(text)
        if not predicted:
            return Grade(correct=False, status="ok", method="unparsed", answer=answer, detail=str(why))
        ok = verify(gold, predicted, float_rounding=FLOAT_ROUNDING, timeout_seconds=None)
        return Grade(correct=ok, status="ok", method="latex", answer=answer, detail=str(predicted[0]))
    if (close := _numeric(value, gold[0], rel_tol)) is not None:
        return Grade(correct=close, status="ok", method="numeric", answer=answer,
                     detail=f"{value} vs {gold[0]} (rel_tol={rel_tol:g})")
    value = _align_with_gold(value, gold[0], text)
    ok = verify(gold, [value], float_rounding=FLOAT_ROUNDING, timeout_seconds=None)
    return Grade(correct=ok, status="ok", method="sympy", answer=answer, detail=str(value))


def _numeric(value: sympy.Basic, gold: object, rel_tol: float) -> bool | None:
    """A decimal against an exact number: within rel_tol? None when the rule does not apply."""
    if not (isinstance(value, sympy.Expr) and isinstance(gold, sympy.Expr)):
        return None
    if not (value.is_number and gold.is_number and value.has(sympy.Float) and not gold.has(sympy.Float)):
        return None
    v, g = complex(sympy.N(value, 30)), complex(sympy.N(gold, 30))
    return abs(v - g) <= rel_tol * abs(g) if g != 0 else abs(v) <= rel_tol


def _align_with_gold(value: sympy.Basic, gold: object, text: str) -> sympy.Basic:
    """Read a printed sequence the way the reference's notation suggests.

    A printed (-2, 6, 1) or [-2, 6, 1] against MATH's pmatrix vector is that vector. Against an interval,
    a printed pair in brackets is interval notation: `[1, 5]` is the closed interval, not a list.
    """
    if isinstance(gold, sympy.MatrixBase) and isinstance(value, sympy.Tuple) and len(value) == len(gold):
        return sympy.ImmutableMatrix(gold.rows, gold.cols, list(value))
    stripped = text.strip()
    if isinstance(gold, sympy.Eq):  # `x \in [1,5]` parses as Eq(x, Interval(1, 5))
        gold = gold.rhs
    if isinstance(gold, sympy.Interval) and isinstance(value, sympy.Tuple) and len(value) == 2 \
            and stripped[:1] in "[(" and stripped[-1:] in "])" and "[" in stripped[:1] + stripped[-1:]:
        return sympy.Interval(value[0], value[1], left_open=stripped[0] == "(", right_open=stripped[-1] == ")")
    return value
