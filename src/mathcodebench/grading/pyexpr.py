"""Parse what a Python program printed (`2*sqrt(3)`, `Interval.Lopen(-2, 6)`, `(1, 2)`) into sympy, safely.

sympy's `parse_expr` ends in `eval`, so the text is first checked token by token: only numbers, operators,
brackets, single-letter variables and an allowlist of sympy names may appear; no strings, no attribute
access except `Interval.open`-style constructors, no builtins. Call it in a killable worker process:
`10**10**10` parses lazily but may hang whatever evaluates it next.
"""

from __future__ import annotations

import io
import keyword
import token
import tokenize

import sympy
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

_FUNCTIONS = (
    "sqrt cbrt root exp log sin cos tan cot sec csc asin acos atan sinh cosh tanh Abs factorial binomial "
    "floor ceiling Rational Integer Float Interval Union FiniteSet Matrix Tuple Add Mul Pow"
).split()
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo, "EmptySet": sympy.EmptySet,
              "ln": sympy.log, "abs": sympy.Abs}
_INTERVAL_KINDS = {"open", "Lopen", "Ropen"}
_OPS = {"+", "-", "*", "/", "**", "^", "(", ")", "[", "]", "{", "}", ",", ".", "%"}
MAX_CHARS = 1000
MAX_NUMBER_DIGITS = 400
MAX_DEPTH = 50


def _symbol(name: str, **_: object) -> sympy.Symbol:
    # latex2sympy (math-verify) makes real symbols; ours must be the same objects to compare equal.
    return sympy.Symbol(name, real=True)


_NAMESPACE = {**{n: getattr(sympy, n) for n in _FUNCTIONS}, **_CONSTANTS, "Symbol": _symbol}


class Rejected(ValueError):
    """The text is not a plain mathematical expression we are willing to parse."""


def check_tokens(text: str) -> None:
    if len(text) > MAX_CHARS:
        raise Rejected(f"longer than {MAX_CHARS} characters")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise Rejected(f"not an expression: {exc}") from None
    depth = 0
    for i, tok in enumerate(tokens):
        if tok.type in (token.NEWLINE, token.NL, token.ENDMARKER, token.INDENT, token.DEDENT):
            continue
        if tok.type == token.NUMBER:
            if len(tok.string) > MAX_NUMBER_DIGITS:
                raise Rejected("number too long")
        elif tok.type == token.NAME:
            prev = tokens[i - 1].string if i else ""
            if prev == ".":
                if tok.string not in _INTERVAL_KINDS or tokens[i - 2].string != "Interval":
                    raise Rejected(f"attribute {tok.string!r} not allowed")
            elif keyword.iskeyword(tok.string) or not (tok.string in _NAMESPACE or
                                                       (len(tok.string) == 1 and tok.string.isalpha())):
                raise Rejected(f"name {tok.string!r} not allowed")
        elif tok.type == token.OP and tok.string in _OPS:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}"
            if depth > MAX_DEPTH:
                raise Rejected("nested too deeply")
        else:
            raise Rejected(f"token {tok.string!r} not allowed")


def parse_python_expr(text: str) -> sympy.Basic:
    """Return a sympy object for `text`, or raise `Rejected`."""
    check_tokens(text)
    try:
        value = parse_expr(
            text,
            local_dict={},
            global_dict={"__builtins__": {}, **_NAMESPACE},
            transformations=(*standard_transformations, convert_xor),
            evaluate=False,
        )
    except Exception as exc:  # sympy raises many types for malformed input
        raise Rejected(f"sympy could not parse it: {type(exc).__name__}") from None
    return _to_sympy(value)


def _to_sympy(value: object) -> sympy.Basic:
    if isinstance(value, (tuple, list)):
        return sympy.Tuple(*(_to_sympy(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return sympy.FiniteSet(*(_to_sympy(v) for v in value))
    if isinstance(value, bool) or not isinstance(value, (sympy.Basic, sympy.MatrixBase, int, float)):
        raise Rejected(f"not a mathematical value: {type(value).__name__}")
    return sympy.sympify(value)
