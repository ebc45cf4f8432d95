"""Grading speed and accuracy on the MATH test references, against math-verify called directly.

For each of the 5,000 references an equivalent program-style output is made (the reference parsed by
math-verify and printed the way a Python program prints sympy values) and a wrong one (a perturbed value).
Both are graded by mathcodebench's grader (worker process, hard deadline, safe parser) and by math-verify in
this process (`verify(parse(reference), parse(output))`), and the table shows answers/s, accuracy on each set
and timeouts side by side.

    python benchmarks/grading.py [--data ../shared/data/math/test.jsonl] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import sympy
from math_verify import parse, verify

from mathcodebench.grading import SymbolicGrader

logging.getLogger("math_verify").setLevel(logging.ERROR)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math" / "test.jsonl"


def program_style(reference: str) -> tuple[str, str] | None:
    """(equivalent output, wrong output) the way a program would print them, or None if unparseable."""
    parsed = parse(f"${reference}$")
    if not parsed:
        return None
    value = parsed[0]
    if isinstance(value, str):
        return value, value + "x"
    try:
        if isinstance(value, sympy.Tuple | tuple):
            wrong = type(value)(value[0] + 1, *value[1:]) if value else None
        elif isinstance(value, sympy.MatrixBase):
            wrong = value + sympy.ones(*value.shape)
        elif isinstance(value, sympy.Set):
            wrong = sympy.Union(value, sympy.FiniteSet(12345))
        else:
            wrong = value + 1
    except (TypeError, ValueError, AttributeError):
        return None
    if wrong is None:
        return None
    return str(value), str(wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines()][: args.limit]
    cases = [(row["answer"], *pair) for row in rows if (pair := program_style(row["answer"])) is not None]
    print(f"{len(rows)} references, {len(cases)} turned into program-style outputs")

    results: dict[str, dict[str, float]] = {}
    with SymbolicGrader(deadline_s=10) as grader:
        grader.grade("1", "1")  # start the worker outside the timing
        for label, index, expected in (("equivalent", 1, True), ("wrong", 2, False)):
            start, right, timeouts = time.perf_counter(), 0, 0
            for case in cases:
                grade = grader.grade(case[index], case[0])
                right += grade.correct == expected
                timeouts += grade.status == "timeout"
            results[f"mathcodebench / {label}"] = {"rate": len(cases) / (time.perf_counter() - start),
                                                   "accuracy": right / len(cases), "timeouts": timeouts}
    for label, index, expected in (("equivalent", 1, True), ("wrong", 2, False)):
        start, right = time.perf_counter(), 0
        for case in cases:
            try:
                ok = verify(parse(f"${case[0]}$"), parse(case[index]), timeout_seconds=10)
            except Exception:  # noqa: BLE001 - the comparison counts a crash as a wrong verdict
                ok = not expected
            right += ok == expected
        # math-verify's own timeout returns False silently, so its timeouts cannot be counted
        results[f"math-verify direct / {label}"] = {"rate": len(cases) / (time.perf_counter() - start),
                                                    "accuracy": right / len(cases), "timeouts": float("nan")}

    print(f"{'grader / outputs':<34} {'answers/s':>10} {'accuracy %':>11} {'timeouts':>9}")
    for name, r in results.items():
        timeouts = "n/a" if r["timeouts"] != r["timeouts"] else f"{r['timeouts']:.0f}"
        print(f"{name:<34} {r['rate']:>10.1f} {100 * r['accuracy']:>11.2f} {timeouts:>9}")
    for label in ("equivalent", "wrong"):
        ours, theirs = results[f"mathcodebench / {label}"], results[f"math-verify direct / {label}"]
        print(f"ratio mathcodebench / math-verify, {label}: speed {ours['rate'] / theirs['rate']:.2f}x, "
              f"accuracy {100 * (ours['accuracy'] - theirs['accuracy']):+.2f} points")


if __name__ == "__main__":
    main()
