"""A MATH reference (LaTeX) read into what it denotes, once per distinct reference (cached in the worker).

Kinds, tried in order: a word answer (`\\text{Wednesday}`, `\\text{(C)}`, `\\text{A, C}`, `\\overline{CD}`), a
clock time (`\\text{1:03 PM}`, `9\\text{ a.m.}`), a base-n numeral (`312_4`, `152A_{11}`), otherwise a value
with its decoration (`\\$15,\\!000`, `7 \\text{ days}`, `44\\%`, `25^\\circ`, `6 cm^2`). A bare capital letter
may be a choice or a variable, and `15,600` (no `\\!`) a number or two solutions: both readings are kept.
Whatever no parser reads is compared as words, so every reference gets a verdict.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sympy

from .notation import exact_text, read_clock, read_numeral, split_decoration, words
from .readings import Quantity, Reading, Words, parse_latex, plain_latex, unwrap_text

_WHOLE_TEXT = re.compile(r"^\(?\s*\\text\s*\{([^{}]*)\}\s*\)?$")
_OVERLINE = re.compile(r"^\\overline\s*\{\s*([A-Za-z]+)\s*\}$")
_LETTERS = re.compile(r"^\(?[A-Z]\)?(?:\s*,\s*\(?[A-Z]\)?)*$")  # choices; a lower-case `a` or `i` is math
_TRAILING_TEXT = re.compile(r"\\text\s*\{[^{}]*\}\s*(?:\^\s*\{?\s*\d\s*\}?)?$")
_AMBIGUOUS_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+$")


@lru_cache(maxsize=4096)
def read_reference(reference: str) -> tuple[Reading, ...]:
    text = plain_latex(reference)
    flat = unwrap_text(text)
    if (m := _WHOLE_TEXT.match(text)) or (m := _OVERLINE.match(text)):
        inner = m.group(1).strip()
        if (clock := read_clock(inner)) is not None:
            return (clock,)
        value = parse_latex(inner) if re.fullmatch(r"[-\d.,/ ]+", inner) else None
        return (Quantity(value),) if value is not None else (Words(words(inner)),)
    if (clock := read_clock(flat)) is not None:
        return (clock,)
    if (numeral := read_numeral(text, subscript_required=True)) is not None:
        return (numeral,)
    if _LETTERS.match(text):
        value = parse_latex(text)
        return (Words(words(text)), *([Quantity(value)] if value is not None else []))
    return _quantities(text) or (Words(exact_text(flat), exact=True),)


def _plus_minus(body: str) -> object | None:
    """`\\frac{-1 \\pm \\sqrt{5}}{2}`, which latex2sympy reads only where `\\pm` joins two terms of a list: the
    set of the two values."""
    if body.count("\\pm") + body.count("\\mp") != 1:
        return None
    both = [parse_latex(re.sub(r"\\pm|\\mp", sign, body)) for sign in ("+", "-")]
    return None if None in both else sympy.FiniteSet(*both)


def _quantities(text: str) -> tuple[Reading, ...]:
    has_trailing_text = bool(_TRAILING_TEXT.search(text))
    decorated = split_decoration(unwrap_text(text) if has_trailing_text else text, letters_are_units=has_trailing_text)
    body, unit = decorated.text, decorated.unit
    value = parse_latex(body)
    if value is None:
        value = _plus_minus(body)
    if value is None:
        return ()
    readings: list[Reading] = [Quantity(value, unit, decorated.percent)]
    if _AMBIGUOUS_THOUSANDS.match(body) and unit is None:  # `70,110` may be two angles; `15,600` a number
        readings.append(Quantity(sympy.FiniteSet(*(sympy.Integer(p) for p in body.split(","))), unit))
    return tuple(readings)
