"""Grading accuracy and speed: mathcodebench's symbolic grader against math-verify called directly
(`verify(parse(reference), parse(output))`), on the same pairs, in one run.

Pair sets:
- corpus: every labelled pair under tests/data (real program outputs and hand-written family pairs);
- MATH references against themselves (all 5,000 test references; each must be accepted);
- MATH references against a Python rendering of what they denote (`str()` of the sympy value, the way a
  program prints it: `1/2`, `4 - 7*I`, `Interval.open(1, 2)`, `Matrix([[1], [2]])`, `{1, 2}`), which must be
  accepted, and against the same rendering of a perturbed value (plus one, one more element, ...), which must
  not. References with no obvious rendering (words, clock times, numerals in a base) are left out of these two.

Our grader runs in its worker process with its hard deadline, as in a run; math-verify runs in this process
with its own (signal) timeout, which returns False silently, so its timeouts cannot be counted.

    python benchmarks/grading.py [--data ../shared/data/math/test.jsonl] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path

import sympy
from math_verify import parse, verify

from mathcodebench.grading import SymbolicGrader
from mathcodebench.grading.base import Grade
from mathcodebench.grading.labelled import LabelledResult, Pair, grade_pairs, read_pairs
from mathcodebench.grading.readings import Quantity
from mathcodebench.grading.reference import read_reference

logging.getLogger("math_verify").setLevel(logging.CRITICAL)
warnings.simplefilter("ignore")  # sympy deprecations from math-verify's in-process parsing
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "math" / "test.jsonl"
CORPUS = ROOT / "tests" / "data"


class MathVerifyDirect:
    """math-verify as its README shows it, behind the same protocol as our graders."""

    name = "math-verify"

    def grade(self, output: str, reference: str, problem: str = "") -> Grade:
        try:
            ok = verify(parse(f"${reference}$"), parse(output), timeout_seconds=10)
        except Exception:
            ok = False
        return Grade(correct=bool(ok), status="ok", method="math-verify", answer=output)

    def close(self) -> None:
        pass


def corpus_pairs() -> list[Pair]:
    return [p for path in sorted(CORPUS.glob("*.jsonl")) for p in read_pairs(path) if p.label is not None]


def renderings(references: list[str]) -> tuple[list[Pair], list[Pair]]:
    """(equivalent, perturbed) program-style printings of the references that denote a value."""
    equivalent, perturbed = [], []
    for reference in references:
        reading = read_reference(reference)[0]
        if not isinstance(reading, Quantity) or reading.unit is not None:
            continue
        wrong = _perturbed(reading.value)
        if wrong is None:
            continue
        sign = "%" if reading.percent else ""
        equivalent.append(Pair(answer=f"{reading.value}{sign}", reference=reference, label=True))
        perturbed.append(Pair(answer=f"{wrong}{sign}", reference=reference, label=False))
    return equivalent, perturbed


def _perturbed(value: object) -> object | None:
    try:
        if isinstance(value, sympy.Tuple) and value:
            return sympy.Tuple(value[0] + 1, *value[1:])
        if isinstance(value, sympy.MatrixBase):
            return value + sympy.ones(*value.shape)
        if isinstance(value, sympy.Set):  # one point more, outside the set
            outside = next((c for c in (12345, -12345, *value.boundary) if value.contains(c) is sympy.false), None)
            return None if outside is None else sympy.Union(value, sympy.FiniteSet(outside), evaluate=False)
        if isinstance(value, sympy.Eq):
            return sympy.Eq(value.lhs, value.rhs + 1)
        if isinstance(value, sympy.Expr):
            return value + 1
    except (TypeError, ValueError, AttributeError):
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    references = [json.loads(line)["answer"] for line in args.data.read_text().splitlines()][: args.limit]
    equivalent, perturbed = renderings(references)
    sets = {
        "corpus (labelled)": corpus_pairs(),
        "MATH reference vs itself": [Pair(answer=r, reference=r, label=True) for r in references],
        "MATH reference vs Python print": equivalent,
        "MATH reference vs wrong print": perturbed,
    }
    print(f"{len(references)} MATH references; {len(equivalent)} with a Python rendering")

    results: dict[tuple[str, str], LabelledResult] = {}
    with SymbolicGrader() as ours:
        ours.grade("1/2", r"\frac12")  # start the worker outside the timing
        theirs = MathVerifyDirect()
        for label, pairs in sets.items():
            for grader in (ours, theirs):
                results[label, grader.name] = grade_pairs(grader, pairs)

    print(f"{'pairs':<32} {'n':>6}  {'grader':<12} {'agreement %':>11} {'answers/s':>10} {'timeouts':>9}")
    for (label, name), result in results.items():
        timeouts = sum(g.grade.status == "timeout" for g in result.graded) if name != "math-verify" else "n/a"
        print(
            f"{label:<32} {len(result.graded):>6}  {name:<12} {100 * result.table.rate:>11.2f} "
            f"{result.answers_per_s:>10.1f} {timeouts:>9}"
        )
    for label in sets:
        ours_r, theirs_r = results[label, "symbolic"], results[label, "math-verify"]
        print(
            f"{label}: symbolic / math-verify speed {ours_r.answers_per_s / theirs_r.answers_per_s:.2f}x, "
            f"agreement {100 * (ours_r.table.rate - theirs_r.table.rate):+.2f} points"
        )


if __name__ == "__main__":
    main()
