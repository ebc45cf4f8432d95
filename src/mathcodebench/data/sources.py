"""`--dataset` specs -> problems, all through one normaliser (`records.to_problems`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import UserError
from . import hub
from .readers import jsonl_rows, math_dir_rows, parquet_rows
from .records import Loaded, to_problems

SAMPLE = "sample"
SPECS_HELP = (
    "'sample' (bundled), 'math' / 'math:test' / 'math:train' / 'math500' (Hugging Face hub, cached), "
    "a MATH-layout directory, or a .jsonl / .parquet file"
)


def load(spec: str) -> Loaded:
    if spec == SAMPLE:
        with resources.as_file(resources.files(__package__).joinpath("sample.jsonl")) as path:
            loaded = to_problems(jsonl_rows(path), source="sample")
        return loaded
    if spec in {"math", "math:test", "math:train"}:
        rows, source = hub.math_rows(spec.partition(":")[2] or "test")
        return to_problems(rows, source)
    if spec == "math500":
        rows, source = hub.math500_rows()
        return to_problems(rows, source)
    path = Path(spec)
    if not path.exists():
        raise UserError(f"dataset not found: {spec} (use {SPECS_HELP})")
    if path.is_dir():
        return to_problems(math_dir_rows(path), str(path))
    if path.suffix == ".jsonl":
        return to_problems(jsonl_rows(path), str(path))
    if path.suffix == ".parquet":
        return to_problems(parquet_rows(path), str(path))
    raise UserError(f"unsupported dataset file {spec}: expected a directory, .jsonl or .parquet")
