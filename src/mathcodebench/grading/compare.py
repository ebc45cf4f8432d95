"""When a printed value is the reference's value.

- Numbers: exact values must be equal; a decimal against an exact value (or another decimal) must lie within
  the relative tolerance, so a value not rounded as the reference is (0.4286 for 0.43) is wrong, like one
  rounded too much (0.33 for 1/3). `nan`, `zoo` and anything containing them are never right.
- Order: a reference written as a bare list or a set (`1, 3`, `1 \\pm \\sqrt{2}`, `\\{1, 2\\}`) is a set of
  solutions, so any order counts (a printed list, tuple or set); a parenthesised tuple, a vector or matrix,
  and an interval are ordered. Lengths must match: a partial list or a superset is wrong.
- Relations: the same relation counts (`2*x - 2*y + 4 = 0` is `y = x + 2`; the same plane scaled by -1);
  `x = 5` answers `5`, and `y = 2x` is answered by `2*x`. Inequalities, `And`/`Or` of them, intervals and
  unions compare as the sets they describe.
- Everything else (expressions, symbolic sets) goes to math-verify's comparison.
"""

from __future__ import annotations

from typing import Any

import sympy
from math_verify import verify
from sympy.core.function import AppliedUndef
from sympy.core.relational import Relational

from .notation import Clock, Numeral, same_time
from .readings import Quantity, Reading, Words

FLOAT_ROUNDING = 6  # math-verify's rounding, used only inside its own symbolic comparisons
_EXACT_DIGITS = 60


def same_reading(pred: Reading, gold: Reading, rel_tol: float, percent_question: bool | None = None) -> bool:
    """`percent_question`: whether the problem asks for a percentage (None: no problem statement given)."""
    if isinstance(gold, Words):
        return isinstance(pred, Words) and same_words(pred.text, gold.text)
    if isinstance(gold, Clock):
        return isinstance(pred, Clock) and same_time(pred, gold)
    if isinstance(gold, Numeral):
        return isinstance(pred, Numeral) and pred.digits == gold.digits and pred.base in (None, gold.base)
    return isinstance(pred, Quantity) and same_quantity(pred, gold, rel_tol, percent_question)


def same_words(pred: str, gold: str) -> bool:
    """Equal words; a list of choice letters in any order (`A, C` is `C, A`; `ACF` is `A, C, F`); one choice
    letter with what it stands for (`C (circle)`), but not with another letter (`A and C`)."""
    if pred == gold:
        return True
    p, g = pred.split(), gold.split()
    if len(g) == 1 and len(g[0]) == 1 and p and p[0] == g[0]:
        return not any(len(t) == 1 and t.isalpha() for t in p[1:])
    if len(g) > 1 and all(len(t) == 1 for t in g):
        letters = list(p[0]) if len(p) == 1 else p
        return sorted(letters) == sorted(g)
    return len(g) == 1 and len(p) > 1 and all(len(t) == 1 for t in p) and "".join(p) == g[0]


def same_quantity(pred: Quantity, gold: Quantity, rel_tol: float, percent_question: bool | None = None) -> bool:
    """Units must not contradict (`12 m` is not `12 cm`). A reference percentage is its number or its value
    (`44` and `0.44` answer `44\\%`, `0.44%` does not). A printed percentage is its value (`25%` answers
    `0.25`, `0.25%` does not), and its number where the question asks for a percentage (`20%` answers `20`;
    without the question: where the reference is a whole number)."""
    if pred.unit and gold.unit and pred.unit != gold.unit:
        return False
    if pred.percent == gold.percent:
        return same_value(pred.value, gold.value, rel_tol)
    if gold.percent:
        candidates = [(pred.value, gold.value), (pred.value, _hundredth(gold.value))]
    else:
        candidates = [(_hundredth(pred.value), gold.value)]
        whole = isinstance(gold.value, sympy.Integer) and abs(gold.value) >= 1
        if percent_question or (percent_question is None and whole):
            candidates.append((pred.value, gold.value))
    return any(p is not None and g is not None and same_value(p, g, rel_tol) for p, g in candidates)


def _hundredth(value: Any) -> Any | None:
    return sympy.Mul(value, sympy.Rational(1, 100)) if isinstance(value, sympy.Expr) else None


def same_value(pred: Any, gold: Any, rel_tol: float) -> bool:
    if _undefined(pred) or _undefined(gold):
        return False
    if pred == gold:
        return True
    if _has_variable_e(pred) and isinstance(gold, sympy.Basic) and gold.has(sympy.E):
        gold = gold.xreplace({sympy.E: sympy.Symbol("e", real=True)})  # `7p+4e`: latex2sympy made e Euler's
    pred, gold = _unwrap_assignments(pred, gold)
    if isinstance(gold, sympy.MatrixBase) or isinstance(pred, sympy.MatrixBase):
        return _same_matrix(pred, gold, rel_tol)
    if isinstance(gold, sympy.FiniteSet) and (isinstance(pred, sympy.FiniteSet) or not isinstance(pred, sympy.Set)):
        items = list(pred.args) if isinstance(pred, (sympy.Tuple, sympy.FiniteSet)) else [pred]
        return _same_unordered(items, list(gold.args), rel_tol)
    if isinstance(gold, sympy.Tuple):
        return (
            isinstance(pred, (sympy.Tuple, sympy.FiniteSet))
            and len(pred.args) == len(gold)
            and all(same_value(p, g, rel_tol) for p, g in zip(pred.args, gold.args, strict=True))
        )
    if isinstance(gold, sympy.Set) or isinstance(pred, sympy.Set):
        return _same_set(pred, gold, rel_tol)
    if _relational(gold) or _relational(pred):
        return _relational(gold) and _relational(pred) and same_relation(pred, gold, rel_tol)
    if isinstance(pred, sympy.Tuple):
        return False
    if isinstance(pred, sympy.Expr) and isinstance(gold, sympy.Expr) and pred.is_number and gold.is_number:
        return same_number(pred, gold, rel_tol)
    return _math_verify(pred, gold)


def _undefined(value: Any) -> bool:
    return isinstance(value, sympy.Basic) and (value.has(sympy.nan) or value.has(sympy.zoo))


def _has_variable_e(value: Any) -> bool:
    return isinstance(value, sympy.Basic) and sympy.Symbol("e", real=True) in value.free_symbols


def _relational(value: Any) -> bool:
    return isinstance(value, (Relational, sympy.And, sympy.Or))


def _is_assignment(value: Any) -> bool:
    """`x = 5`, `f(x) = 2x + 3`, `(x, y) = (2, 3)`: a name for the value on the right."""
    if not isinstance(value, sympy.Eq):
        return False
    lhs = value.lhs
    return isinstance(lhs, (sympy.Symbol, AppliedUndef)) or (
        isinstance(lhs, sympy.Tuple) and all(isinstance(v, sympy.Symbol) for v in lhs)
    )


def _unwrap_assignments(pred: Any, gold: Any) -> tuple[Any, Any]:
    """`x = 5` and `x + y = 5` answer `5` (a printed equation states its right side); `y = 2x` is answered by
    `2*x` (the reference's own variable names it)."""
    if isinstance(pred, sympy.Eq) and not _relational(gold):
        pred = pred.rhs
    if _is_assignment(gold) and not _relational(pred):
        gold = gold.rhs
    return pred, gold


def _same_unordered(pred: list[Any], gold: list[Any], rel_tol: float) -> bool:
    if len(pred) != len(gold):
        return False
    remaining = list(pred)
    for g in gold:
        match = next((i for i, p in enumerate(remaining) if same_value(p, g, rel_tol)), None)
        if match is None:
            return False
        del remaining[match]
    return True


def _same_matrix(pred: Any, gold: Any, rel_tol: float) -> bool:
    """A printed tuple of the right shape is the vector or matrix (`(-2, 6, 1)`, `[[1, 2], [3, 4]]`)."""
    if not isinstance(gold, sympy.MatrixBase):
        gold, pred = pred, gold  # a printed Matrix against a tuple reference
        if not isinstance(pred, sympy.Tuple):
            return False
    rows = _rows(pred)
    if rows is None:
        return False
    if len(rows) == 1 and gold.cols == 1:
        rows = [[v] for v in rows[0]]
    if len(rows) != gold.rows or any(len(r) != gold.cols for r in rows):
        return False
    return all(same_value(rows[i][j], gold[i, j], rel_tol) for i in range(gold.rows) for j in range(gold.cols))


def _rows(value: Any) -> list[list[Any]] | None:
    if isinstance(value, sympy.MatrixBase):
        return [list(value.row(i)) for i in range(value.rows)]
    if isinstance(value, sympy.Tuple):
        if all(isinstance(v, sympy.Tuple) for v in value):
            return [list(v) for v in value]
        if not any(isinstance(v, (sympy.Tuple, sympy.MatrixBase)) for v in value):
            return [list(value)]
    return None


def _same_set(pred: Any, gold: Any, rel_tol: float) -> bool:
    """Intervals endpoint by endpoint; an open interval written as a pair; a relation as the set it
    describes; unions and complements as sets."""
    pred, gold = _as_set(pred), _as_set(gold)
    if isinstance(pred, sympy.Tuple) and not pred:
        pred = sympy.S.EmptySet  # `[]`: no solutions
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Interval):
        return (
            (gold.left_open, gold.right_open) == (pred.left_open, pred.right_open)
            and same_value(pred.start, gold.start, rel_tol)
            and same_value(pred.end, gold.end, rel_tol)
        )
    if isinstance(gold, sympy.Interval) and isinstance(pred, sympy.Tuple) and len(pred) == 2 and gold.is_open:
        return same_value(pred, sympy.Tuple(gold.start, gold.end), rel_tol)
    if not (isinstance(gold, sympy.Set) and isinstance(pred, sympy.Set)):
        return False
    if (
        isinstance(gold, sympy.Union)
        and isinstance(pred, sympy.Union)
        and _same_unordered(list(pred.args), list(gold.args), rel_tol)
    ):
        return True
    try:
        return bool(gold == pred or gold.symmetric_difference(pred).is_empty)
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        return False


def _as_set(value: Any) -> Any:
    """`(x > 1) & (x < 5)` -> (1, 5) when it constrains one variable; anything else as it is."""
    if _relational(value) and len(value.free_symbols) == 1:
        try:
            return value.as_set()
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            return value
    return value


def same_relation(pred: Any, gold: Any, rel_tol: float) -> bool:
    if isinstance(gold, (sympy.And, sympy.Or)) or isinstance(pred, (sympy.And, sympy.Or)):
        p, g = _as_set(pred), _as_set(gold)
        if isinstance(p, sympy.Set) and isinstance(g, sympy.Set):
            return _same_set(p, g, rel_tol)
        return type(p) is type(g) and _same_unordered(list(p.args), list(g.args), rel_tol)
    assert isinstance(pred, Relational) and isinstance(gold, Relational)
    p, g = _oriented(pred), _oriented(gold)
    if type(p) is not type(g):
        return False
    if _is_assignment(p) and _is_assignment(g) and p.lhs == g.lhs:
        return same_value(p.rhs, g.rhs, rel_tol)
    positive = isinstance(p, (sympy.StrictLessThan, sympy.LessThan))
    return _proportional(p.lhs - p.rhs, g.lhs - g.rhs, positive, rel_tol)


def _oriented(rel: Relational) -> Relational:
    """`a > b` as `b < a`, so only two inequality kinds remain."""
    if isinstance(rel, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        kind = sympy.StrictLessThan if isinstance(rel, sympy.StrictGreaterThan) else sympy.LessThan
        return kind(rel.rhs, rel.lhs, evaluate=False)
    return rel


def _proportional(a: sympy.Expr, b: sympy.Expr, positive: bool, rel_tol: float) -> bool:
    """a = k * b for a constant k != 0 (k > 0 for inequalities): the same line, circle or plane."""
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        return False
    try:
        pa, pb = sympy.Poly(a, *symbols), sympy.Poly(b, *symbols)
        if set(pa.monoms()) != set(pb.monoms()) or pb.is_zero:
            return False
        monom = pb.monoms()[0]
        ratio = sympy.nsimplify(pa.coeff_monomial(monom)) / sympy.nsimplify(pb.coeff_monomial(monom))
        if ratio == 0 or (positive and not ratio.is_positive):
            return False
        return all(
            same_number(sympy.sympify(pa.coeff_monomial(m)), ratio * pb.coeff_monomial(m), rel_tol) for m in pb.monoms()
        )
    except (sympy.PolynomialError, sympy.GeneratorsNeeded, TypeError, ValueError):
        ratio = sympy.simplify(a / b)
        return not ratio.free_symbols and ratio != 0 and (not positive or bool(ratio.is_positive))


def same_number(pred: sympy.Expr, gold: sympy.Expr, rel_tol: float) -> bool:
    if any(v.has(sympy.oo, sympy.S.NegativeInfinity) for v in (pred, gold)):
        return bool(pred.doit() == gold.doit())
    scale = abs(sympy.N(gold, 20))
    if pred.has(sympy.Float) or gold.has(sympy.Float):
        difference = abs(sympy.N(pred - gold, 30))
        return bool(difference <= rel_tol * scale if scale != 0 else difference <= rel_tol)
    if abs(sympy.N(pred, 20) - sympy.N(gold, 20)) > sympy.Float(1e-9) * max(scale, 1):
        return False  # clearly different: no exact arithmetic on a printed 10**10**10
    pred, gold = pred.doit(), gold.doit()  # `2**2005` printed in full is exactly that, not nearly
    if pred.is_Rational and gold.is_Rational:
        return bool(pred == gold)
    return bool(abs(sympy.N(pred - gold, _EXACT_DIGITS)) <= sympy.Float(10) ** (10 - _EXACT_DIGITS) * max(scale, 1))


def _math_verify(pred: Any, gold: Any) -> bool:
    return bool(verify(gold, pred, float_rounding=FLOAT_ROUNDING, timeout_seconds=None))
