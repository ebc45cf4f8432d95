"""One grader interface: the registry, the decisive grader, `grade --pairs` with labels (real CLI), the judge
behind the same protocol, and nothing evaluated from model text."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import ScriptedModel
from mathcodebench import cli as cli_module
from mathcodebench.data import Problem
from mathcodebench.errors import UserError
from mathcodebench.grading import (
    FINAL,
    GRADERS,
    JUDGE,
    SYMBOLIC,
    Grade,
    GraderDeps,
    GraderUnavailable,
    Grading,
    GradingSettings,
    MemoryCache,
    SymbolicGrader,
    create_grader,
)
from mathcodebench.models import ModelError

PROBLEM = Problem(id="p", subject="Algebra", level=1, problem="Compute one third.", answer=r"\frac{1}{3}")


def test_the_registry_holds_both_graders_behind_one_protocol():
    assert set(GRADERS) == {SYMBOLIC, JUDGE}
    symbolic = create_grader(SYMBOLIC, GraderDeps())
    judge = create_grader(JUDGE, GraderDeps(judge_model=ScriptedModel({"one third": ['{"score": 5}']})))
    try:
        for grader, name in ((symbolic, SYMBOLIC), (judge, JUDGE)):
            assert grader.name == name
            grade = grader.grade("1/3\n", PROBLEM.answer, PROBLEM.problem)
            assert isinstance(grade, Grade) and grade.correct
    finally:
        symbolic.close()
        judge.close()
    with pytest.raises(ValueError, match="unknown grader 'exact'"):
        create_grader("exact", GraderDeps())
    with pytest.raises(ValueError, match="needs a judge model"):
        create_grader(JUDGE, GraderDeps())


class Exact:
    """A third grader: one class and one registry entry."""

    name = "exact"

    def grade(self, output, reference, problem=""):
        return Grade(correct=output.strip() == reference.strip(), status="ok", method="exact", answer=output.strip())

    def close(self):
        pass


def test_a_third_grader_is_one_entry_in_the_registry(monkeypatch, tmp_path):
    monkeypatch.setitem(GRADERS, "exact", lambda deps: Exact())
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"answer": "0.5", "reference": "0.5", "label": True}) + "\n")
    r = CliRunner().invoke(cli_module.app, ["grade", "--pairs", str(pairs), "--grader", "exact"])
    assert r.exit_code == 0 and json.loads(r.stdout.splitlines()[0])["method"] == "exact"
    assert "exact: 1 labelled pairs, agreement 100.00 %" in r.stdout


def test_the_decisive_grader_is_the_modes_default_or_the_chosen_one():
    def both(decisive=None):
        settings = GradingSettings(mode="both", judge="scripted", decisive=decisive)
        return Grading(settings, ScriptedModel({"one third": ['{"score": 1, "reason": "r"}']}), MemoryCache())

    default, headline = both(), both(SYMBOLIC)
    try:
        grades = default.grade(PROBLEM, "1/3\n")
        assert grades[FINAL] == grades[JUDGE] and not grades[FINAL].correct
        grades = headline.grade(PROBLEM, "1/3\n")
        assert grades[FINAL] == grades[SYMBOLIC] and grades[FINAL].correct and not grades[JUDGE].correct
    finally:
        default.close()
        headline.close()
    assert GradingSettings().graders == (SYMBOLIC,) and not GradingSettings().needs_judge
    for bad, match in [
        ({"mode": "symbolic", "decisive": JUDGE}, "cannot make"),
        ({"mode": "cascade", "judge": "x", "decisive": JUDGE}, "cannot make"),
        ({"mode": "both", "judge": "x", "decisive": "exact"}, "unknown grader"),
    ]:
        with pytest.raises(ValueError, match=match):
            GradingSettings(**bad)


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args], capture_output=True, text=True, timeout=120
    )


def write(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_grade_pairs_with_labels_ends_with_agreement_matrix_and_disagreements(tmp_path):
    pairs = write(
        tmp_path / "pairs.jsonl",
        [
            {"id": "a", "answer": "4 - 7*I", "reference": "4-7i", "label": True, "reason": "sympy I"},
            {"id": "b", "answer": "3124", "reference": "312_4", "label": False, "reason": "digit separator misread"},
            {
                "id": "c",
                "answer": "7",
                "reference": r"7 \text{ days}",
                "label": False,
                "reason": "deliberately mislabelled",
            },
            {"answer": "2", "reference": "3"},  # unlabelled: graded, not counted
        ],
    )
    r = cli("grade", "--pairs", str(pairs))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    verdicts = [json.loads(line) for line in lines[:4]]
    assert [v["correct"] for v in verdicts] == [True, False, True, False]
    assert [v["id"] for v in verdicts] == ["a", "b", "c", "pairs/4"]
    summary = "\n".join(lines[4:])
    assert "symbolic: 3 labelled pairs, agreement 66.67 % (2/3)" in summary
    assert lines[6].split() == ["label", "correct", "1", "0"] and lines[7].split() == ["label", "incorrect", "1", "1"]
    assert "1 disagreements" in summary
    assert "c | 7 | 7 \\text{ days} | incorrect -> correct | deliberately mislabelled" in summary


def test_grade_pairs_without_labels_prints_only_the_verdicts(tmp_path):
    pairs = write(
        tmp_path / "pairs.jsonl", [{"answer": "1/3", "reference": r"\frac13"}, {"answer": "2", "reference": "3"}]
    )
    r = cli("grade", "--pairs", str(pairs))
    assert r.returncode == 0 and [json.loads(line)["correct"] for line in r.stdout.splitlines()] == [True, False]


@pytest.mark.parametrize(
    "rows,message",
    [
        ([{"answer": "1", "reference": "1"}, "{not json"], "pairs.jsonl:2: not valid JSON"),
        ([{"answer": "1"}], "pairs.jsonl:1: expected an object with string fields 'answer' and 'reference'"),
        ([{"answer": "1", "reference": "1", "label": "perhaps"}], "pairs.jsonl:1: field label:"),
    ],
)
def test_bad_pairs_files_are_one_line_errors(tmp_path, rows, message):
    r = cli("grade", "--pairs", str(write(tmp_path / "pairs.jsonl", rows)))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_grade_pairs_with_the_judge(monkeypatch, tmp_path):
    judge = ScriptedModel(
        {"one third": ['{"score": 5, "reason": "same value"}'], "two thirds": ['{"score": 2, "reason": "wrong"}']}
    )
    monkeypatch.setattr("mathcodebench.models.create_model", lambda spec, *a, **k: judge)
    pairs = write(
        tmp_path / "pairs.jsonl",
        [
            {"answer": "0.333", "reference": r"\frac13", "problem": "Compute one third.", "label": True},
            {"answer": "0.5", "reference": r"\frac23", "problem": "Compute two thirds.", "label": False},
        ],
    )
    r = CliRunner().invoke(cli_module.app, ["grade", "--pairs", str(pairs), "--grader", JUDGE, "--judge", "scripted"])
    assert r.exit_code == 0, r.output
    verdicts = [json.loads(line) for line in r.stdout.splitlines()[:2]]
    assert [(v["correct"], v["method"]) for v in verdicts] == [(True, "judge"), (False, "judge")]
    assert "judge: 2 labelled pairs, agreement 100.00 %" in r.stdout
    assert all("Compute" in seen[1].content for seen in judge.seen)  # the judge saw each problem

    r = CliRunner().invoke(cli_module.app, ["grade", "--pairs", str(pairs), "--grader", JUDGE])
    assert isinstance(r.exception, UserError) and "needs a judge model" in str(r.exception)  # main() exits 2


def test_a_failing_judge_model_is_unavailable_not_a_verdict(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "mathcodebench.models.create_model",
        lambda spec, *a, **k: ScriptedModel({}, default=ModelError("connection refused")),
    )
    grader = create_grader(JUDGE, GraderDeps(judge_model=ScriptedModel({}, default=ModelError("refused"))))
    with pytest.raises(GraderUnavailable, match="refused"):
        grader.grade("1", "1", "Compute one.")
    pairs = write(tmp_path / "pairs.jsonl", [{"answer": "1", "reference": "1", "label": True}])
    r = CliRunner().invoke(cli_module.app, ["grade", "--pairs", str(pairs), "--grader", JUDGE, "--judge", "x"])
    assert isinstance(r.exception, UserError) and "connection refused" in str(r.exception)


@pytest.fixture(scope="module")
def symbolic():
    with SymbolicGrader() as grader:
        yield grader


@pytest.mark.parametrize(
    "answer",
    [
        "__import__('os').system('touch {flag}')",
        "open('{flag}', 'w').write('x')",
        "().__class__.__bases__[0].__subclasses__()",
        "Interval.__init__.__globals__",
        "np.__dict__",
        "lambda: 2",
        "eval('2')",
        "exec('import os')",
        "[x for x in (2,)]",
        "getattr(Interval, 'open')",
    ],
)
def test_nothing_from_the_model_is_evaluated(tmp_path, symbolic, answer):
    flag = tmp_path / "flag"
    grade = symbolic.grade(answer.format(flag=flag) + "\n", "2")
    assert not grade.correct and grade.status == "ok" and not flag.exists()
