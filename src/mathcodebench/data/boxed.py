"""The reference answer of a MATH solution: the content of its last `\\boxed{...}` or `\\fbox{...}`.

Braces are balanced, escaped braces (`\\{`, `\\}`) and `\\\\` are skipped, and the brace-less `\\boxed 2$`
form is read up to the next `$` or space.
"""

from __future__ import annotations

import re

_COMMAND = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(solution: str) -> str | None:
    """Return the last boxed answer, or None when there is none (or it never closes)."""
    starts = [m.end() for m in _COMMAND.finditer(solution)]
    for start in reversed(starts):
        answer = _argument(solution, start)
        if answer is not None:
            return answer.strip()
    return None


def _argument(text: str, i: int) -> str | None:
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        match = re.match(r"[^$\s]+", text[i:])  # `\boxed 2$`
        return match.group(0) if match else None
    depth, j = 0, i
    while j < len(text):
        ch = text[j]
        if ch == "\\":
            j += 2  # skip the escaped character (\{, \}, \\)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
        j += 1
    return None
