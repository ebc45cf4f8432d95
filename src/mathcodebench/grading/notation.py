"""What surrounds a value in a printed answer or a reference: labels, units, money, percent, degrees, clock
times, base-n numerals and word answers. Shared by both sides, so `12 cm` and `12\\text{ cm}` read alike.

Everything here works on plain text (the reference's LaTeX decoration is first turned into plain text by
`reference.py`); the value itself is left for the math parsers.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

# canonical unit -> the words that name it (singular; plurals are derived)
_UNIT_NAMES = {
    "mm": "mm millimeter millimetre",
    "cm": "cm centimeter centimetre",
    "m": "m meter metre",
    "km": "km kilometer kilometre",
    "in": "in inch",
    "ft": "ft foot feet",
    "yd": "yd yard",
    "mi": "mi mile",
    "s": "s sec second",
    "min": "min minute",
    "h": "h hr hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year yr",
    "dollar": "dollar usd",
    "cent": "cent",
    "degree": "degree deg",
    "radian": "rad radian",
    "g": "g gm gram",
    "kg": "kg kilogram",
    "lb": "lb pound",
    "oz": "oz ounce",
    "mph": "mph",
    "l": "l liter litre",
    "ml": "ml milliliter millilitre",
}
UNITS = {name: unit for unit, names in _UNIT_NAMES.items() for name in names.split()}
_SINGLE_LETTER_UNITS = {n for n in UNITS if len(n) == 1}
_MATH_WORDS = {"pi", "sqrt", "i", "e", "and", "or", "oo", "inf", "infinity", "j", "x", "y", "z", "n", "k"}
_POWER = re.compile(r"\s*(?:\^\s*\{?\s*([23])\s*\}?|([²³]))$")
_AREA_WORDS = re.compile(r"^(square|sq\.?|cubic|cu\.?)\s+", re.I)
_PLAIN_NUMBER = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?$", re.I)
_UNIT_WORD = re.compile(r"^[A-Za-z][A-Za-z.'-]*(?:\^\{?[23]\}?|[²³])?$")
_GLUED_UNIT = re.compile(r"^(.*\d)([A-Za-z]{2,}(?:\^\{?[23]\}?|[²³])?)$")
_LABEL = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:=]?\s*|[A-Za-z][\w ,'()-]*?:\s+)", re.I)
_WORDS_IS = re.compile(r"^[A-Za-z][A-Za-z ,']*?\s(?:is|are|equals)\s+(?=\S)", re.I)
# A count stated as existence: `There are 4 ordered quadruples (a, b, c, d) such that ...`, `There is 1 way.`: the
# number is the answer, whatever describes what was counted.
_THERE_ARE = re.compile(
    r"^there\s+(?:are|is|were|was|exists?)\s+(?:exactly\s+|only\s+)?(-?\d[\d,]*(?:\.\d+)?)\s+[A-Za-z].*$", re.I
)


def strip_label(text: str) -> str:
    """`Answer: 5`, `The final answer is 5`, `Total cost: $45`, `The number of ways is 12`, `There are 12 ways to
    do it` -> the value.
    Python code is no label: `lambda: 2` stays as it is (and is no answer)."""
    text = text.strip()
    if keyword.iskeyword(text.split(":")[0].split(" ")[0]):
        return text
    text = _strip(_LABEL, text)
    if count := _THERE_ARE.match(text):
        return count.group(1)
    return _strip(_WORDS_IS, text)


def _strip(prefix: re.Pattern[str], text: str) -> str:
    """`text` without what `prefix` matches at its start, unless nothing would be left."""
    return prefix.sub("", text, count=1).strip() or text


@dataclass(frozen=True)
class Decorated:
    """A value's text with what was around it: a recognised unit (canonical, e.g. `cm^2`), a percent sign."""

    text: str
    unit: str | None = None
    percent: bool = False
    letter: bool = False  # the unit was one letter (`5 m`, `3 s^2`), which could also be a variable


def canonical_unit(words: str) -> str | None:
    """`square inches` -> `in^2`, `cm^2` -> `cm^2`, `Dollars` -> `dollar`; None when not a unit we know."""
    words = words.strip().rstrip(".").strip()
    power = ""
    if m := _POWER.search(words):
        power = "^" + (m.group(1) or {"²": "2", "³": "3"}[m.group(2)])
        words = words[: m.start()].strip()
    if m := _AREA_WORDS.match(words):
        power = "^2" if m.group(1).lower().startswith("s") else "^3"
        words = words[m.end() :]
    word = words.lower()
    for candidate in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if candidate and candidate in UNITS:
            return UNITS[candidate] + power
    return None


def split_unit(text: str, letters_are_units: bool) -> Decorated:
    """Trailing unit words (`12 cm`, `7 days`, `6 square units`, `12cm`) come off. A single letter counts when
    the writer marked it as text (`letters_are_units`, the reference's `\\text{ m}`) or when it is a known
    unit written apart after a plain number (`5 m`), so `5 x` and `3s` stay expressions."""
    parts = text.split()
    k = len(parts)
    while k > 1 and _UNIT_WORD.match(parts[k - 1]) and parts[k - 1].lower().rstrip(".") not in _MATH_WORDS:
        k -= 1
    if k < len(parts):
        value, unit_words, apart = " ".join(parts[:k]), " ".join(parts[k:]), True
    elif m := _GLUED_UNIT.match(text.strip()):
        value, unit_words, apart = m.group(1), m.group(2), False
    else:
        return Decorated(text)
    bare = _POWER.sub("", unit_words).strip().rstrip(".")
    if not any(c.isdigit() for c in value) or bare.lower() in _MATH_WORDS:
        return Decorated(text)
    plain = letters_are_units or bool(_PLAIN_NUMBER.match(value.strip()))
    if len(bare) == 1 and not (bare.lower() in _SINGLE_LETTER_UNITS and plain and apart):
        return Decorated(text)
    return Decorated(value.strip(), unit=canonical_unit(unit_words), letter=len(bare) == 1)


_MONEY = re.compile(r"^(-?)\s*(?:\$|US\$|USD\s*)\s*")
_PERCENT = re.compile(r"\s*(?:%|percent|pct)\.?$", re.I)
_DEGREES = re.compile(r"\s*(?:°|degrees?)\.?$", re.I)
_DEGREE_MARK = re.compile(r"(?<=[\d}).])\s*°")


def split_decoration(text: str, letters_are_units: bool) -> Decorated:
    """Money, percent, degree and unit decoration around one value."""
    text = text.strip()
    unit = None
    if m := _MONEY.match(text):
        text, unit = m.group(1) + text[m.end() :], "dollar"
    if m := _PERCENT.search(text):
        return Decorated(text[: m.start()].strip(), unit, percent=True)
    if m := _DEGREES.search(text):
        return Decorated(_DEGREE_MARK.sub("", text[: m.start()]).strip(), "degree")  # also `45°, 135°`
    rest = split_unit(text, letters_are_units)
    return Decorated(rest.text, rest.unit or unit, letter=rest.letter)


@dataclass(frozen=True)
class Clock:
    """A time of day in minutes after midnight (seconds as a fraction); `meridian` is False for `1:03` without
    am/pm and an hour of at most 12, which is compared on a 12-hour dial."""

    minutes: float
    meridian: bool

    def __str__(self) -> str:
        hours, minutes = divmod(round(self.minutes), 60)
        return f"{hours}:{minutes:02d}" + ("" if self.meridian else " (12-hour)")


_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])?\.?\s*(?:m\.?)?$", re.I)


def read_clock(text: str) -> Clock | None:
    m = _CLOCK.match(text.strip())
    if not m or (m.group(2) is None and m.group(4) is None):
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    if m.group(4):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m.group(4).lower() == "p" else 0)
        return Clock(hour * 60 + minute + second / 60, True)
    return Clock(hour * 60 + minute + second / 60, hour > 12 or hour == 0)


def same_time(a: Clock, b: Clock) -> bool:
    if a.meridian and b.meridian:
        return a.minutes == b.minutes
    return a.minutes % 720 == b.minutes % 720


@dataclass(frozen=True)
class Numeral:
    """A numeral in a stated or implied base: `312_4` is the digits 312 in base 4. `base` None: not stated."""

    digits: str
    base: int | None

    def __str__(self) -> str:
        return self.digits + (f"_{self.base}" if self.base else "")

    def value(self) -> int | None:
        """The number it denotes, when it has a base and its digits fit the base."""
        if self.base is None or not 2 <= self.base <= 36 or "." in self.digits:
            return None
        try:
            return int(self.digits, self.base)
        except ValueError:
            return None


_SUBSCRIPT = re.compile(
    r"^(-?)([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)?)\s*"
    r"(?:_\s*\{?\s*(\d{1,2})\s*\}?|\s*\(\s*base\s*(\d{1,2})\s*\))$",
    re.I,
)
_PREFIXED = re.compile(r"^(-?)0([box])([0-9a-f]+)$", re.I)
_PLAIN_DIGITS = re.compile(r"^(-?)([0-9A-Za-z]*\d[0-9A-Za-z]*(?:\.[0-9A-Za-z]+)?)$")


def read_numeral(text: str, subscript_required: bool) -> Numeral | None:
    """`312_4`, `5026_{8}`, `152A_{11}`, `0b1101` (Python's bin()), or, when allowed, bare digits `312`."""
    text = text.strip()
    if (m := _SUBSCRIPT.match(text)) and _fits(m.group(2), int(m.group(3) or m.group(4))):
        return Numeral(m.group(1) + _digits(m.group(2)), int(m.group(3) or m.group(4)))
    if m := _PREFIXED.match(text):
        return Numeral(m.group(1) + _digits(m.group(3)), {"b": 2, "o": 8, "x": 16}[m.group(2).lower()])
    if not subscript_required and (m := _PLAIN_DIGITS.match(text)):
        return Numeral(m.group(1) + _digits(m.group(2)), None)
    return None


def _fits(digits: str, base: int) -> bool:
    """Digits that are numerals in `base` (at least one decimal digit, so `x_1` is a variable)."""
    return 2 <= base <= 36 and any(c.isdigit() for c in digits) and all(int(c, 36) < base for c in digits if c != ".")


def _digits(digits: str) -> str:
    return (digits.upper().lstrip("0") or "0") if "." not in digits else digits.upper().strip("0") or "0"


def exact_text(text: str) -> str:
    """Text compared character by character, but for spaces and case."""
    return "".join(text.split()).upper()


_NON_WORD = re.compile(r"\\[A-Za-z]+|[^\w]+")


def words(text: str) -> str:
    """Word answers compared loosely: case, quotes, brackets, spaces and punctuation do not matter
    (`['A', 'C']`, `(A), (C)`, `a, c` all read `A C`), but the words and their order do."""
    return " ".join(_NON_WORD.sub(" ", text).upper().split())
