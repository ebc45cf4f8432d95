"""Rows from any source (JSONL, Parquet, the original per-problem JSON files, the hub) -> problems.

One normaliser for all sources, so every source accepts the same field spellings and reports the same
errors. Rows that cannot be used as benchmark items (no extractable answer, unknown level) are returned
as `Skipped` with a reason; malformed input raises `UserError` naming the place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import UserError
from .boxed import last_boxed
from .problem import Problem, canonical_subject


@dataclass(frozen=True)
class Skipped:
    id: str
    reason: str


@dataclass
class Loaded:
    problems: list[Problem]
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""  # what was read, including a hub revision where there is one


def parse_level(value: Any, where: str) -> int | None:
    """`3`, `"3"` or `"Level 3"` -> 3; MATH's `"Level ?"` (and missing levels) -> None."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower().startswith("level"):
        text = text[5:].strip()
    if text in {"", "?"}:
        return None
    try:
        level = int(text)
    except ValueError:
        raise UserError(f"{where}: level {value!r} is not a number from 1 to 5") from None
    if not 1 <= level <= 5:
        raise UserError(f"{where}: level {level} is out of range (1-5)")
    return level


def to_problems(rows: Iterable[tuple[str, str, dict[str, Any]]], source: str) -> Loaded:
    """`rows` yields (place for messages, default id, row). Duplicate ids are an error."""
    loaded = Loaded(problems=[], source=source)
    seen: dict[str, str] = {}
    for where, default_id, row in rows:
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object")
        if "problem" not in row:
            raise UserError(f"{where}: missing field 'problem'")
        pid = str(row.get("id") or row.get("unique_id") or default_id)
        if pid in seen:
            raise UserError(f"{where}: duplicate id {pid!r} (first at {seen[pid]})")
        seen[pid] = where
        subject_name = row.get("subject") or row.get("type")
        if subject_name is None:
            raise UserError(f"{where}: missing field 'subject'")
        subject = canonical_subject(str(subject_name))
        if subject is None:
            raise UserError(f"{where}: unknown subject {subject_name!r}")
        solution = row.get("solution") or ""
        if "answer" in row and row["answer"] is not None:
            answer = str(row["answer"])
        elif solution:
            answer = last_boxed(solution) or ""
        else:
            raise UserError(f"{where}: missing field 'answer' (and no solution to extract it from)")
        level = parse_level(row.get("level"), where)
        if level is None:
            loaded.skipped.append(Skipped(pid, "unknown level"))
            continue
        if not answer.strip():
            loaded.skipped.append(Skipped(pid, "no answer could be extracted from the solution"))
            continue
        try:
            loaded.problems.append(
                Problem(id=pid, subject=subject, level=level, problem=row["problem"], solution=solution, answer=answer)
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise UserError(f"{where}: field {'.'.join(str(p) for p in err['loc'])!r}: {err['msg']}") from None
    if not loaded.problems:
        raise UserError(f"{source}: no problems found")
    return loaded
