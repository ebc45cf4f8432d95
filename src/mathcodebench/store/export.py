"""Flat tables of a run for pandas, R or a spreadsheet: one row per attempt and one per problem.

Attempt columns: problem_id, sample, attempt, status, error_type, code, stdout, stderr, exit_code, gen_s, exec_s,
prompt_tokens, completion_tokens, tokens_reused (tbt; empty when the backend cannot count), regeneration_points,
finish_reason, temperature, seed, max_tokens, unsafe (categories, ";"-joined), denied, feedback, response,
answer (tir: the boxed answer that was graded), tool_calls (tir: code blocks run).
Problem columns (one row per problem and sample): problem_id, sample, subject, level, reference, attempts (not
counting infrastructure failures), solved (an attempt printed an answer), vote_class (repeated samples: the
first sample whose answer is equivalent),
answer (the graded line), correct (the verdict that counts), method, plus symbolic_correct, judge_correct and
judge_score where those graders ran.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..grading import JUDGE, SYMBOLIC
from .record import RunData

FORMATS = ("csv", "jsonl", "parquet")


def attempt_rows(data: RunData) -> list[dict[str, Any]]:
    rows = []
    for tried in data.attempts.values():
        for a in tried:
            rows.append(
                {
                    "problem_id": a.problem_id,
                    "sample": a.sample,
                    "attempt": a.number,
                    "status": a.status.value,
                    "error_type": a.error_type,
                    "code": a.code,
                    "stdout": a.stdout,
                    "stderr": a.stderr,
                    "exit_code": a.exit_code,
                    "gen_s": a.gen_s,
                    "exec_s": a.exec_s,
                    "prompt_tokens": a.prompt_tokens,
                    "completion_tokens": a.completion_tokens,
                    "tokens_reused": a.tokens_reused,
                    "regeneration_points": len(a.regeneration),
                    "finish_reason": a.finish_reason,
                    "temperature": a.params.temperature,
                    "seed": a.params.seed,
                    "max_tokens": a.params.max_tokens,
                    "unsafe": ";".join(sorted({f.category.value for f in a.unsafe})),
                    "denied": a.denied,
                    "feedback": a.feedback,
                    "response": a.response,
                    "answer": a.answer,
                    "tool_calls": sum(t.code is not None for t in a.turns),
                }
            )
    return rows


def problem_rows(data: RunData) -> list[dict[str, Any]]:
    final, symbolic, judge = data.final, data.grader(SYMBOLIC), data.grader(JUDGE)
    rows = []
    for p in data.problems:
        for unit in data.units(p.id):
            grade = final.get(unit)
            rows.append(
                {
                    "problem_id": p.id,
                    "sample": unit[1],
                    "subject": p.subject,
                    "level": p.level,
                    "reference": p.answer,
                    "attempts": len(data.counted(unit)),
                    "solved": any(a.status.value == "answered" for a in data.tried(unit)),
                    "answer": grade.answer if grade else None,
                    "correct": grade.correct if grade else None,
                    "method": grade.method if grade else None,
                    "symbolic_correct": symbolic[unit].correct if unit in symbolic else None,
                    "judge_correct": judge[unit].correct if unit in judge else None,
                    "judge_score": judge[unit].score if unit in judge else None,
                    "vote_class": data.votes.get(unit),
                }
            )
    return rows


def export(data: RunData, directory: Path, fmt: str) -> list[Path]:
    """Write <run>-attempts.<fmt> and <run>-problems.<fmt> into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = data.path.stem
    written = []
    for name, rows in (("attempts", attempt_rows(data)), ("problems", problem_rows(data))):
        path = directory / f"{stem}-{name}.{fmt}"
        tmp = path.with_suffix(path.suffix + ".tmp")
        if fmt == "csv":
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
                writer.writeheader()
                writer.writerows(rows)
        elif fmt == "jsonl":
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        tmp.replace(path)  # never a half-written export
        written.append(path)
    return written
