"""The report's tables as tidy CSV: one file per table, one row per run x cell (e.g. per model and subject),
values unrounded (fractions as fractions), for analysis in pandas, R or a spreadsheet."""

from __future__ import annotations

import csv
from pathlib import Path

from .tables import Scalar, Table


def _value(value: Scalar) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def write_csv(tables: list[Table], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        header = list(dict.fromkeys(key for record in t.records for key in record))
        path = directory / f"{t.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows([_value(record.get(key)) for key in header] for record in t.records)
        written.append(path)
    return written
