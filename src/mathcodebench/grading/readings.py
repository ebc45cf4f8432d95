"""The kinds of answer both sides are read into, and the LaTeX reader they share.

A reference is read once into one or more `Reading`s (alternatives: `15,600` may be a number or two
solutions); the printed answer is then read the way the reference's kind asks (a clock time against a
clock time, digits against a base-n numeral, words against words, a value against a value).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sympy
from latex2sympy2_extended.math_normalization import NormalizationConfig, extract_boxed_content
from math_verify import LatexExtractionConfig, parse

from .notation import Clock, Numeral

logging.getLogger("math_verify").setLevel(logging.ERROR)  # we impose our own deadline (see worker.py)
logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Quantity:
    """A mathematical value, with the unit (canonical, if one we know) and percent sign it was written with."""

    value: object  # a sympy Basic or MatrixBase
    unit: str | None = None
    percent: bool = False


@dataclass(frozen=True)
class Words:
    """A word answer (`Wednesday`, a choice letter, `A, C, F`), normalised by `notation.words`; or, `exact`, a
    reference no parser reads, which only the same characters answer (spaces and case aside): there the
    operators matter, `x^2 - 1` is not `x^2 + 1`."""

    text: str
    exact: bool = False

    def __str__(self) -> str:
        return repr(self.text)


Reading = Quantity | Words | Clock | Numeral

# math-verify's LaTeX reading without its unit stripping, which also strips variables (`4t` -> 4); units are
# taken off (and compared) by notation.split_decoration instead.
_LATEX = LatexExtractionConfig(
    normalization_config=NormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
    )
)

_SPACES = re.compile(r"(?<!\\)\\(?:[,;:> ]|quad|qquad|enspace|thinspace)|~")
_TEXT_COMMANDS = re.compile(r"\\(?:text(?:bf|it|rm|normal|sf|tt)?|math(?:rm|bf|it|sf|tt|normal)|mbox|textup)\s*\{")
_THOUSANDS = re.compile(r"(\d)\s*(?:,\s*\\!|\{,\}|\\[,;! ])\s*(?=\d{3}(?!\d))")  # 15,\!000  90{,}900  1\,000
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree")
_TRIG_DEGREES = re.compile(r"(\\(?:sin|cos|tan|sec|csc|cot))\s*\{?\s*(\d+(?:\.\d+)?)\s*\}?\s*°")
_SHORT_FRAC = re.compile(r"\\frac\s*(\\[A-Za-z]+|\w)\s*(\\[A-Za-z]+|\w)")  # `\frac \pi4`
_DELIMITERS = re.compile(r"^\s*(?:\$+|\\\(|\\\[)(.*?)(?:\$+|\\\)|\\\])\s*$", re.S)


def plain_latex(text: str) -> str:
    """LaTeX decoration as plain text, the math left as LaTeX: `\\boxed{}` and `$` unwrapped, thousands
    separators (`15,\\!000`, `90{,}900`, `1\\,000`) joined, spacing commands dropped, `\\textbf`/`\\mathrm`/`\\mbox` all
    `\\text`, `\\%` `%`, `\\$` `$`, `^\\circ` `°` (inside a trig function: the factor pi/180)."""
    text = text.replace("\n", " ").strip()
    if m := _DELIMITERS.match(text):
        text = m.group(1)
    if "\\boxed" in text or "\\fbox" in text:
        text = extract_boxed_content(text, mode="last")
    text = _THOUSANDS.sub(r"\1", text)
    text = text.replace("\\!", "")
    text = _SPACES.sub(" ", text)
    text = _TEXT_COMMANDS.sub(r"\\text{", text)
    text = text.replace("\\%", "%").replace("\\$", "$").replace("\\dollar", "$")
    text = _DEGREE.sub("°", text)
    text = _TRIG_DEGREES.sub(r"\1(\2\\cdot\\frac{\\pi}{180})", text)
    text = re.sub(r"\\(?:d|t|c)frac", r"\\frac", text)
    text = _SHORT_FRAC.sub(r"\\frac{\1}{\2}", text)
    return " ".join(text.split()).rstrip(".").strip()


_TEXT_GROUP = re.compile(r"\\text\s*\{([^{}]*)\}(?:\s*\^\s*\{?\s*(\d)\s*\}?)?")


def unwrap_text(text: str) -> str:
    """`9\\text{ a.m.}` -> `9 a.m.`, `440\\text{ cm}^2` -> `440 cm^2`: `\\text{}` groups as plain words."""
    return " ".join(
        _TEXT_GROUP.sub(lambda m: f" {m.group(1).strip()}{'^' + m.group(2) if m.group(2) else ''} ", text).split()
    )


def parse_latex(text: str) -> object | None:
    """math-verify's LaTeX parser (latex2sympy), with `i` as the imaginary unit; None if it cannot."""
    if not text.strip():
        return None
    found = parse(
        f"${text}$", extraction_config=[_LATEX], fallback_mode="no_fallback", parsing_timeout=None
    )  # the worker's deadline applies
    if not found:
        return None
    value = found[0]
    if isinstance(value, sympy.Eq) and isinstance(value.rhs, sympy.Set):  # `x \in [1, 5]`: the set
        value = value.rhs
    return canonical(value)


def canonical(value: object) -> object:
    """Both parsers' objects made comparable: every variable a real symbol with a lower-case name (as
    latex2sympy writes them), `i` the imaginary unit."""
    if not isinstance(value, (sympy.Basic, sympy.MatrixBase)):
        return value
    symbols: set[sympy.Basic] = getattr(value, "free_symbols", set())
    if not symbols:
        return value
    mapping = {
        s: sympy.I if s.name in ("i", "I") else sympy.Symbol(s.name.lower(), real=True)
        for s in symbols
        if isinstance(s, sympy.Symbol)
    }
    try:
        return value.xreplace(mapping)
    except (TypeError, ValueError, AttributeError):
        if isinstance(value, sympy.Interval):  # `(1+2i, 3)`: a pair, not an interval, once i is imaginary
            return sympy.Tuple(value.start, value.end).xreplace(mapping)
        return value
