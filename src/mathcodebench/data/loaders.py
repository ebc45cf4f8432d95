"""Dataset specs -> problems: the bundled sample or a JSONL file in the MATH schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from .problem import Problem, canonical_subject

SAMPLE = "sample"


def load_dataset(spec: str) -> list[Problem]:
    """Load every problem named by `spec`: `sample` (bundled) or a path to a `.jsonl` file."""
    if spec == SAMPLE:
        text = resources.files(__package__).joinpath("sample.jsonl").read_text(encoding="utf-8")
        return parse_jsonl(text, source="bundled sample")
    path = Path(spec)
    if not path.exists():
        raise UserError(f"dataset not found: {spec} (use 'sample' or a path to a .jsonl file)")
    if path.suffix != ".jsonl":
        raise UserError(f"unsupported dataset file {spec}: expected a .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read dataset {spec}: {exc}") from None
    return parse_jsonl(text, source=spec)


def parse_jsonl(text: str, source: str) -> list[Problem]:
    """Parse MATH-schema JSON lines; every defect is reported with its line number."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object")
        problem = _problem(row, where, default_id=f"{Path(source).stem}/{lineno}")
        if problem.id in seen:
            raise UserError(f"{where}: duplicate id {problem.id!r} (first on line {seen[problem.id]})")
        seen[problem.id] = lineno
        problems.append(problem)
    if not problems:
        raise UserError(f"{source}: no problems found")
    return problems


def _problem(row: dict, where: str, default_id: str) -> Problem:
    for field in ("problem", "answer"):
        if field not in row:
            raise UserError(f"{where}: missing field {field!r}")
    subject = canonical_subject(str(row.get("subject", "")))
    if subject is None:
        raise UserError(f"{where}: unknown subject {row.get('subject')!r}")
    try:
        return Problem(
            id=str(row.get("id") or default_id),
            subject=subject,
            level=row.get("level"),
            problem=row["problem"],
            solution=row.get("solution") or "",
            answer=row["answer"],
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise UserError(f"{where}: field {field!r}: {err['msg']}") from None
