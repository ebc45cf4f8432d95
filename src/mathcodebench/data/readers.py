"""File formats -> raw rows: JSON lines, Parquet, and the original MATH layout (`test/<subject>/<n>.json`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError

Row = tuple[str, str, dict[str, Any]]  # (place for messages, default id, row)


def jsonl_rows(path: Path) -> Iterator[Row]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        yield f"{path}:{lineno}", f"{path.stem}/{lineno}", row


def parquet_rows(path: Path, id_prefix: str | None = None) -> Iterator[Row]:
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ArrowException) as exc:
        raise UserError(f"cannot read {path} as Parquet: {exc}") from None
    prefix = id_prefix or path.stem
    for index, row in enumerate(rows):
        yield f"{path} row {index}", f"{prefix}/{index}", row


def math_dir_rows(root: Path) -> Iterator[Row]:
    """The original tarball layout: `<split>/<subject>/<n>.json` under `root`, or `<subject>/<n>.json` under a
    split directory. Ids are MATH's own (`test/algebra/1.json`, PRM800K's `unique_id`) either way."""
    nested = list(root.glob("*/*/*.json"))
    files, base = (nested, root) if nested else (list(root.glob("*/*.json")), root.parent)
    if not files:
        raise UserError(f"{root}: no <split>/<subject>/<n>.json files (the original MATH layout)")
    for path in sorted(files, key=lambda p: (p.parent.as_posix(), _index(p))):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not a readable JSON file ({exc})") from None
        if isinstance(row, dict):
            row.setdefault("subject", row.get("type") or path.parent.name)
        yield str(path), path.relative_to(base).as_posix(), row


def _index(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)
