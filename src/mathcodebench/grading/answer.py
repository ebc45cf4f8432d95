"""The printed answer line read the way the reference's kind asks.

Against a value: decoration comes off (`Answer:`, `$`, `%`, `°`, units), then the text is read as Python/sympy
syntax (what programs print: `4 - 7*I`, `(3-1j)`, `Eq(y, 3*x - 1)`, `{x: 2}`, `[np.float64(1.5)]`), else as
LaTeX/text through math-verify's parser (`\\frac{1}{2}`, `3 + 4i`). Printed forms no parser knows are put
right first: `3,120,000` (thousands, when that is the only reading), `6 1/5` (a mixed number), `312_4` and
`0b1101` (numerals with a base), `[1. 2. 3.]` (numpy), `x = 1, x = 2` and `Area = 12` (labels).
"""

from __future__ import annotations

import re

import sympy

from .notation import Clock, Numeral, exact_text, read_clock, read_numeral, split_decoration, strip_label, words
from .pyexpr import Rejected, is_variable, parse_python_expr
from .readings import Quantity, Reading, Words, canonical, parse_latex, plain_latex, unwrap_text

_UNICODE = str.maketrans(
    {
        "−": "-",
        "×": "*",
        "·": "*",
        "⋅": "*",
        "÷": "/",
        "π": "pi",
        "∞": "oo",
        "≤": "<=",
        "≥": ">=",
        "≠": "!=",
        "≈": "=",
        "∈": "=",
        "²": "**2",
        "³": "**3",
        "’": "'",
    }
)
_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z])?")
_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
_MIXED = re.compile(r"^(-?)(\d+)\s+(\d+)\s*/\s*(\d+)$")
_NUMPY = re.compile(r"^\[[\[\]\d.\s+\-ej]*\d[\[\]\d.\s+\-ej]*\]$")  # `[1. 2.]`, `[[1 2] [3 4]]`, `[2.+0.j]`
_NUMPY_GAP = re.compile(r"(?<=[\d.\]j])\s+(?=[-+\d.\[])")
_INFINITY = re.compile(r"(?<![A-Za-z\\])oo(?![A-Za-z])")  # sympy's oo, in text that only LaTeX can read: `(-oo, 3]`
_LATEX = re.compile(r"\\|[_^]\{")  # `\frac12`, `2^{10}`: LaTeX, where Python braces would make sets
_BRACKET_PAIR = re.compile(r"^([\[(])\s*([^,\[\]()]+?)\s*,\s*([^,\[\]()]+?)\s*([\])])$")


def clean(line: str) -> str:
    """The answer's text without labels, math delimiters, `\\boxed{}`, `\\text{}` wrappers or a full stop."""
    text = unwrap_text(plain_latex(strip_label(line.strip())))
    return text or line.strip()


def read_answer(line: str, gold: Reading, interval_brackets: bool) -> list[Reading]:
    """Readings of the printed line comparable with `gold` (none when it cannot be read that way). Against an
    interval, a bracketed pair is interval notation (`[1, 5]` is closed) unless `interval_brackets` is off."""
    text = clean(line)
    if isinstance(gold, Words):
        return [Words(exact_text(text), exact=True) if gold.exact else Words(words(text))]
    if isinstance(gold, Clock):
        clock = read_clock(text) or _hour(text)
        return [clock] if clock else []
    if isinstance(gold, Numeral):
        numeral = read_numeral(text, subscript_required=False)
        return [numeral] if numeral else []
    collection = isinstance(gold.value, (sympy.FiniteSet, sympy.Tuple, sympy.MatrixBase))
    text = _ROOT.sub(lambda m: f"sqrt({m.group(1)})" if m.group(1) else "sqrt", text.translate(_UNICODE))
    return _quantities(text, interval_brackets and isinstance(gold.value, sympy.Interval), collection)


def _hour(text: str) -> Clock | None:
    """A bare hour (`9`) against a clock time."""
    return Clock(int(text) * 60, False) if text.isdigit() and int(text) <= 24 else None


def _quantities(text: str, interval_brackets: bool, collection: bool) -> list[Reading]:
    numeral = read_numeral(text, subscript_required=True)  # `312_4` means 54, `0b1101` 13
    if numeral is not None and (number := numeral.value()) is not None:
        return [Quantity(sympy.Integer(number))]
    decorated = split_decoration(text, letters_are_units=False)
    body = decorated.text
    values: list[object | None] = []
    if _THOUSANDS.match(body):  # `3,120,000` is a number (and, against two solutions, a tuple)
        values.append(sympy.Number(body.replace(",", "")))
    elif m := _MIXED.match(body):
        whole, num, den = (int(g) for g in m.group(2, 3, 4))
        values.append(sympy.Rational(whole * den + num, den) * (-1 if m.group(1) else 1) if den else None)
        body = ""
    elif _NUMPY.match(body):
        body = _NUMPY_GAP.sub(", ", body)
    if body:
        values.append(_value(body, interval_brackets, collection))
    readings: list[Reading] = [Quantity(v, decorated.unit, decorated.percent) for v in values if v is not None]
    if decorated.letter:  # `3 s^2` may be the expression 3s^2 rather than 3 square seconds
        readings += [Quantity(v) for v in [_value(text, interval_brackets, collection)] if v is not None]
    return readings


def _value(text: str, interval_brackets: bool, collection: bool) -> object | None:
    """`collection`: the reference is several values, so `print(a, b)`'s `1 2` is two of them."""
    if interval_brackets and (m := _BRACKET_PAIR.match(text)) and "[" in m.group(1) + m.group(4):
        ends = [_value(m.group(2), False, False), _value(m.group(3), False, False)]
        if all(isinstance(e, sympy.Expr) for e in ends):
            interval: object = sympy.Interval(*ends, left_open=m.group(1) == "(", right_open=m.group(4) == ")")
            return interval
    if not _LATEX.search(text):
        try:
            single: object = _single(canonical(parse_python_expr(_relations(text))))
            return single
        except Rejected:
            pass
        if collection and len(parts := _top_level_split(text, " ")) > 1:
            try:
                values: object = sympy.Tuple(*(canonical(parse_python_expr(p)) for p in parts))
                return values
            except Rejected:
                pass
        try:  # `2 sqrt(3)`, `3pi`, `2(x+1)`
            return _single(canonical(parse_python_expr(_relations(text), implicit=True)))
        except Rejected:
            pass
    return _single(parse_latex(_INFINITY.sub(r"\\infty", text)))


def _single(value: object) -> object:
    """A printed one-element list (`[5]`, `[(1, 2)]`: solve() output) is its element."""
    while isinstance(value, sympy.Tuple) and len(value) == 1:
        value = value[0]
    return value


_CONNECTIVE = re.compile(r"\s+(or|and)\s+")
_RELATION = re.compile(r"(?<![<>=!])=(?!=)")


def _relations(text: str) -> str:
    """`x = 1, y = 2` -> `Eq(x, 1), Eq(y, 2)`; a word label before `=` (`Area = 12`) is dropped; `x = 1 or
    x = 2` lists two solutions, `x < 1 or x > 2` is the union of two inequalities."""
    parts = _CONNECTIVE.split(text)
    if len(parts) > 1:
        elements, connectives = parts[0::2], set(parts[1::2])
        if len(connectives) == 1 and all(re.search(r"[<>]", e) for e in elements):
            joint = " | " if connectives == {"or"} else " & "
            return joint.join(f"({_relations(e)})" for e in elements)
        text = ", ".join(elements)
    elements = _top_level_split(text)
    out = []
    for element in elements:
        parts = _RELATION.split(element)
        if len(parts) == 1:
            out.append(element)
            continue
        lhs, rhs = parts[0].strip(), parts[-1].strip()
        if (re.fullmatch(r"[A-Za-z][\w ]*", lhs) and not is_variable(lhs)) or not re.search(r"[A-Za-z]", lhs):
            out.append(rhs)  # `Area = 12`; `5/2 = 2.5`: a value and its other form
        else:
            out.append(f"Eq({lhs}, {rhs})")
    return ", ".join(out) if len(elements) > 1 or out != elements else text


def _top_level_split(text: str, separator: str = ",") -> list[str]:
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]
