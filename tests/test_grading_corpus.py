"""The symbolic grader's exam: every labelled pair under tests/data (real program outputs and hand-written
family pairs, each labelled by reading it) graded through the real worker process; at least 99.5 % must agree
with the labels, and every pair must get a verdict."""

import json
from pathlib import Path

import pytest

from mathcodebench.grading import SymbolicGrader
from mathcodebench.grading.labelled import grade_pairs, read_pairs, report_lines

DATA = Path(__file__).parent / "data"
REQUIRED_AGREEMENT = 0.995


def corpus_files() -> list[Path]:
    """The JSONL files whose lines are labelled pairs."""
    files = []
    for path in sorted(DATA.glob("*.jsonl")):
        first = next((json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), {})
        if {"answer", "reference", "label"} <= set(first):
            files.append(path)
    return files


@pytest.fixture(scope="module")
def result():
    pairs = [pair for path in corpus_files() for pair in read_pairs(path)]
    with SymbolicGrader() as grader:
        return grade_pairs(grader, pairs)


def test_the_corpus_is_there_and_labelled_both_ways(result):
    labels = [g.pair.label for g in result.labelled]
    assert len(labels) >= 600 and len(labels) == len(result.graded)
    assert labels.count(False) >= len(labels) / 3  # near misses, not only right answers


def test_symbolic_grader_agrees_with_the_labels(result):
    assert result.table.rate >= REQUIRED_AGREEMENT, "\n".join(report_lines(result))


def test_every_pair_gets_a_verdict(result):
    statuses = {g.grade.status for g in result.graded}
    assert statuses <= {"ok", "timeout", "no_answer"}, statuses
    assert all(g.grade.status == "no_answer" for g in result.graded if not g.pair.answer.strip())
