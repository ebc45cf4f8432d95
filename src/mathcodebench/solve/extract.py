"""Find the program in a model response: fenced blocks (closed or cut off), several blocks, or no fence."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .syntax import parse_python

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:\n?```|\Z)", re.S)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


@dataclass(frozen=True)
class Extracted:
    code: str
    method: str  # "fence", "fence-unclosed", "bare"
    blocks: int  # how many python blocks the response held
    start: int  # where the program begins in the response (token-by-token regeneration maps errors back)


def extract_code(response: str) -> Extracted | None:
    """Pick the program to run, or None when the response holds no code.

    Several blocks: the last one that prints (models often show a helper first, then the full program);
    if none prints, the last block. No fence: the whole response, if it parses as Python and prints.
    """
    blocks = [
        (m.group(2), m.start(2), m.end() == len(response) and not response.rstrip().endswith("```"))
        for m in _FENCE.finditer(response)
        if m.group(1).lower() in _PYTHON_TAGS
    ]
    blocks = [b for b in blocks if b[0].strip()]
    if blocks:
        printing = [b for b in blocks if "print" in b[0]]
        code, start, cut = (printing or blocks)[-1]
        return Extracted(
            code=code.strip("\n") + "\n",
            method="fence-unclosed" if cut else "fence",
            blocks=len(blocks),
            start=start + len(code) - len(code.lstrip("\n")),
        )
    text = response.strip()
    if text and "print" in text and _parses(text):
        return Extracted(code=text + "\n", method="bare", blocks=0, start=len(response) - len(response.lstrip()))
    return None


def _parses(code: str) -> bool:
    try:
        parse_python(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
