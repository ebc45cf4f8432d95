"""Parse what a Python program printed (`2*sqrt(3)`, `Interval.Lopen(-2, 6)`, `(3-1j)`, `{x: 2}`) into sympy, safely.

sympy's `parse_expr` ends in `eval`, so the text is first checked token by token: only numbers, operators,
brackets, variable names and an allowlist of sympy names may appear; no strings, no attribute access except
the listed constructors (`Interval.open`, `S.Reals`, `np.float64`), no builtins. Call it in a killable worker
process: `10**10**10` parses lazily but may hang whatever evaluates it next.
"""

from __future__ import annotations

import io
import keyword
import re
import token
import tokenize
from collections.abc import Iterable

import sympy
from sympy.parsing.sympy_parser import convert_xor, implicit_multiplication, parse_expr, standard_transformations

_FUNCTIONS = [
    "sqrt",
    "cbrt",
    "root",
    "exp",
    "log",
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "asin",
    "acos",
    "atan",
    "acot",
    "asec",
    "acsc",
    "atan2",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "Abs",
    "factorial",
    "binomial",
    "floor",
    "ceiling",
    "gcd",
    "lcm",
    "Mod",
    "re",
    "im",
    "arg",
    "conjugate",
    "Max",
    "Min",
    "Rational",
    "Integer",
    "Float",
    "Interval",
    "Union",
    "Intersection",
    "Complement",
    "FiniteSet",
    "Matrix",
    "ImmutableMatrix",
    "Tuple",
    "Add",
    "Mul",
    "Pow",
    "Eq",
    "Ne",
    "Lt",
    "Le",
    "Gt",
    "Ge",
    "And",
    "Or",
    "Not",
]
_GREEK = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lamda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def _symbol(name: str, **_: object) -> sympy.Symbol:
    # latex2sympy (math-verify) makes real symbols; ours must be the same objects to compare equal.
    return sympy.Symbol(name, real=True)


def _complex(real: object = 0, imag: object = 0) -> sympy.Expr:
    return sympy.sympify(real) + sympy.sympify(imag) * sympy.I


def _same(value: object) -> object:
    return value


def _point(*coordinates: object) -> sympy.Tuple:
    """sympy geometry's `Point2D(1, 2)`: the coordinates."""
    return sympy.Tuple(*coordinates)


def _set(items: Iterable[object] = ()) -> sympy.FiniteSet:
    """`set()` and `set([1, 2])` as Python prints an empty set or builds one."""
    return sympy.FiniteSet(*items)


class _NumPy:
    """`np.float64(2.5)` and friends, as numpy 2 prints its scalars inside lists: the value itself."""

    float64 = float32 = float16 = int64 = int32 = int16 = int8 = uint64 = uint32 = uint16 = uint8 = complex128 = (
        complex64
    ) = array = staticmethod(_same)


_CONSTANTS = {
    "pi": sympy.pi,
    "E": sympy.E,
    "I": sympy.I,
    "oo": sympy.oo,
    "inf": sympy.oo,
    "zoo": sympy.zoo,
    "nan": sympy.nan,
    "EmptySet": sympy.EmptySet,
    "Reals": sympy.S.Reals,
    "Integers": sympy.S.Integers,
    "Complexes": sympy.S.Complexes,
    "Naturals": sympy.S.Naturals,
    "ln": sympy.log,
    "abs": sympy.Abs,
    "complex": _complex,
    "Fraction": sympy.Rational,
    "array": _same,
    "np": _NumPy,
    "numpy": _NumPy,
    "set": _set,
    "frozenset": _set,
    "Point": _point,
    "Point2D": _point,
    "Point3D": _point,
    "S": sympy.S,
}
_ATTRIBUTES = {
    "Interval": {"open", "Lopen", "Ropen"},
    "S": {
        "Reals",
        "Integers",
        "Complexes",
        "Naturals",
        "Naturals0",
        "Rationals",
        "EmptySet",
        "Half",
        "Zero",
        "One",
        "Infinity",
        "NegativeInfinity",
        "Pi",
        "ImaginaryUnit",
    },
    "np": {n for n in vars(_NumPy) if not n.startswith("_")},
    "numpy": {n for n in vars(_NumPy) if not n.startswith("_")},
}
_OPS = {
    "+",
    "-",
    "*",
    "/",
    "**",
    "^",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "%",
    ":",
    "<",
    ">",
    "<=",
    ">=",
    "==",
    "!=",
    "&",
    "|",
    "~",
}
_VARIABLE = re.compile(r"[A-Za-z](?:_?[A-Za-z]?\d+|_[A-Za-z])?")  # x, x1, x_1, a_n
MAX_CHARS = 1000
MAX_NUMBER_DIGITS = 4300  # Python's own int-to-str limit: a printed 2**2005 must still parse
MAX_DEPTH = 50

_NAMESPACE = {**{n: getattr(sympy, n) for n in _FUNCTIONS}, **_CONSTANTS, "Symbol": _symbol}


class Rejected(ValueError):
    """The text is not a plain mathematical expression we are willing to parse."""


def is_variable(name: str) -> bool:
    return name in _GREEK or bool(_VARIABLE.fullmatch(name))


def check_tokens(text: str, implicit: bool = False) -> None:
    """Raise Rejected unless every token is allowed; with `implicit` (multiplication by juxtaposition, `2 x`)
    two numbers side by side are refused too: `1 2` is two values, never 12."""
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
            if implicit and i and tokens[i - 1].type == token.NUMBER:
                raise Rejected("two numbers side by side")
            # Python never prints digit separators or base prefixes: `312_4` is a base-4 numeral, not 3124.
            if len(tok.string) > MAX_NUMBER_DIGITS or "_" in tok.string or tok.string[:2].lower() in ("0b", "0o", "0x"):
                raise Rejected(f"not a printed number: {tok.string[:20]!r}")
        elif tok.type == token.NAME:
            prev = tokens[i - 1].string if i else ""
            if prev == ".":
                if tok.string not in _ATTRIBUTES.get(tokens[i - 2].string, ()):
                    raise Rejected(f"attribute {tok.string!r} not allowed")
            elif keyword.iskeyword(tok.string) or not (tok.string in _NAMESPACE or is_variable(tok.string)):
                raise Rejected(f"name {tok.string!r} not allowed")
        elif tok.type == token.OP and tok.string in _OPS:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}"
            if depth > MAX_DEPTH:
                raise Rejected("nested too deeply")
        else:
            raise Rejected(f"token {tok.string!r} not allowed")


def parse_python_expr(text: str, implicit: bool = False) -> object:
    """Return a sympy object (or a tuple/list/dict/set of them) for `text`, or raise `Rejected`. `implicit`
    also reads `2 sqrt(3)` and `3pi` as products, as people write them."""
    check_tokens(text, implicit)
    transformations = (*standard_transformations, convert_xor, *([implicit_multiplication] if implicit else []))
    try:
        value = parse_expr(
            text,
            local_dict={},
            global_dict={"__builtins__": {}, **_NAMESPACE},
            transformations=transformations,
            evaluate=False,
        )
    except Exception as exc:  # sympy raises many types for malformed input
        raise Rejected(f"sympy could not parse it: {type(exc).__name__}") from None
    return to_sympy(value)


def to_sympy(value: object) -> object:
    """Containers become sympy containers; a solve() dict `{x: 2}` becomes `Eq(x, 2)` (one key) or the tuple
    of its values in printed order (`{x: 1, y: 2}` -> `(1, 2)`)."""
    if isinstance(value, (tuple, list)):
        return sympy.Tuple(*(to_sympy(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return sympy.FiniteSet(*(to_sympy(v) for v in value))
    if isinstance(value, dict):
        items = [(to_sympy(k), to_sympy(v)) for k, v in value.items()]
        if len(items) == 1 and isinstance(items[0][0], sympy.Symbol):
            return sympy.Eq(*items[0], evaluate=False)
        return sympy.Tuple(*(v for _, v in items))
    if isinstance(value, bool) or not isinstance(value, (sympy.Basic, sympy.MatrixBase, int, float, complex)):
        raise Rejected(f"not a mathematical value: {type(value).__name__}")
    return sympy.sympify(value)
