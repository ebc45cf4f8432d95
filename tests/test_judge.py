"""The LLM judge, grading modes, the judge cache and grader agreement (scripted judge; the real model's
judge path is in test_embedded.py)."""

import json
import subprocess
import sys

import pytest

from conftest import ScriptedModel, fenced, read, run_to_end
from mathcodebench import api
from mathcodebench.data import Problem
from mathcodebench.grading import (
    FINAL,
    GraderUnavailable,
    Grading,
    GradingSettings,
    LLMJudge,
    MemoryCache,
    agreement,
    parse_verdict,
)
from mathcodebench.models import ModelError
from mathcodebench.report import summarize
from mathcodebench.settings import Settings

PROBLEM = Problem(id="p", subject="Algebra", level=1, problem="Compute one third.", answer=r"\frac{1}{3}")


@pytest.mark.parametrize(
    "reply,score",
    [
        ('{"score": 5, "reason": "same value"}', 5),
        ('Sure! {"score": 4, "reason": "rounded"} Hope this helps.', 4),
        ('{"reason": "no", "score": 1}', 1),
        ('{"score": "4"}', 4),
    ],
)
def test_valid_verdicts(reply, score):
    assert parse_verdict(reply).score == score


@pytest.mark.parametrize("reply", ['{"score": 6}', '{"score": 0}', "Score: 5", '{"score": "high"}', "", '{"grade": 5}'])
def test_invalid_verdicts(reply):
    assert parse_verdict(reply) is None


def test_judge_scores_and_threshold():
    for score, correct in [(5, True), (4, True), (3, False), (1, False)]:
        judge = LLMJudge(ScriptedModel({"one third": [f'{{"score": {score}, "reason": "r"}}']}))
        grade = judge.grade("0.33\n", PROBLEM.answer, PROBLEM.problem)
        assert (grade.correct, grade.score, grade.status) == (correct, score, "ok")


def test_unparseable_reply_is_retried_then_recorded():
    model = ScriptedModel({"one third": ["I think it is right.", '{"score": 5, "reason": "ok"}']})
    grade = LLMJudge(model).grade("1/3\n", PROBLEM.answer, PROBLEM.problem)
    assert grade.correct and model.calls["one third"] == 2
    assert model.seen[1][-1].content.startswith("Reply with only the JSON object")
    never = ScriptedModel({"one third": ["no json here"]})
    grade, reply = LLMJudge(never).ask("1/3\n", PROBLEM.answer, PROBLEM.problem)
    assert grade.status == "unparseable" and not grade.correct and never.calls["one third"] == 3
    assert reply == "no json here"


def test_modes_and_cache():
    def judge(reply):
        return ScriptedModel({"one third": [reply]})

    cache = MemoryCache()
    symbolic_only = Grading(GradingSettings(), None, cache).grade(PROBLEM, "1/3\n")
    assert set(symbolic_only) == {"symbolic", FINAL} and symbolic_only[FINAL].correct

    model = judge('{"score": 2, "reason": "r"}')
    cascade = Grading(GradingSettings(mode="cascade", judge="scripted"), model, cache)
    assert set(cascade.grade(PROBLEM, "1/3\n")) == {"symbolic", FINAL}  # symbolic said yes: no judge call
    assert model.calls == {}
    rejected = cascade.grade(PROBLEM, "one third\n")
    assert set(rejected) == {"symbolic", "judge", FINAL} and rejected[FINAL] == rejected["judge"]

    model = judge('{"score": 1, "reason": "r"}')
    both = Grading(GradingSettings(mode="both", judge="scripted"), model, cache)
    grades = both.grade(PROBLEM, "1/3\n")
    assert grades["symbolic"].correct and not grades["judge"].correct and grades[FINAL] == grades["judge"]
    both.grade(PROBLEM, "1/3\n")
    assert model.calls["one third"] == 1  # the second time came from the cache

    unsolved = both.grade(PROBLEM, None)
    assert all(g.status == "no_answer" for g in unsolved.values()) and set(unsolved) == {"symbolic", "judge", FINAL}
    for g in (cascade, both):
        g.close()


def test_a_failing_judge_is_unavailable_not_wrong_and_not_cached():
    cache = MemoryCache()
    for mode in ("judge", "both", "cascade"):
        failing = Grading(
            GradingSettings(mode=mode, judge="scripted"), ScriptedModel({"one third": [ModelError("down")]}), cache
        )
        with pytest.raises(GraderUnavailable, match="down"):
            failing.grade(PROBLEM, "one third\n")  # the symbolic grader says no, so cascade asks the judge too
        failing.close()
    assert cache.items == {}
    judge = LLMJudge(ScriptedModel({"one third": [ModelError("down"), '{"score": 5, "reason": "r"}']}), MemoryCache())
    with pytest.raises(GraderUnavailable):
        judge.grade("1/3\n", PROBLEM.answer, PROBLEM.problem)
    assert judge.grade("1/3\n", PROBLEM.answer, PROBLEM.problem).correct  # asked again once the model is back


def test_judge_modes_need_a_judge():
    with pytest.raises(ValueError, match="needs a judge model"):
        GradingSettings(mode="both")


def test_kappa_against_a_hand_computed_table():
    # 20 both correct, 5 first only, 10 second only, 15 both incorrect:
    # po = 35/50 = 0.7; pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    first = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    second = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    table = agreement(first, second)
    assert (table.both_correct, table.first_only, table.second_only, table.both_incorrect) == (20, 5, 10, 15)
    assert table.rate == pytest.approx(0.7) and table.kappa == pytest.approx(0.4)
    assert agreement([True, True], [True, True]).kappa is None


SCRIPT = {
    "What is the value of $3x + 7$": [fenced("print(22)")],
    "slope of the line": [fenced("print('0.67')")],
    "For what values of $x$": [fenced("raise SystemExit(1)")],
}
JUDGE = {
    "What is the value of $3x + 7$": ['{"score": 5, "reason": "same"}'],
    "slope of the line": ['{"score": 4, "reason": "rounded"}'],
}


def test_run_with_both_graders_then_regrade(db):
    judge = ScriptedModel(JUDGE)
    judge.spec = "judge"
    summary = summarize(
        run_to_end(
            Settings(model="scripted", limit=3, attempts=1, grading="both", judge="judge"),
            db,
            ScriptedModel(SCRIPT),
            judge=judge,
        )
    )
    assert summary.overall.correct == 2  # the judge counts in 'both'
    g = summary.graders
    assert g.agreement.n == 2 and g.agreement.second_only == 1 and g.agreement.both_correct == 1
    assert [d.problem_id for d in g.disagreements] == ["sample/algebra/2"] and g.disagreements[0].judge_score == 4
    calls = dict(judge.calls)

    api.regrade(db, {"grading": "symbolic", "judge": None})
    data = read(db)
    assert summarize(data).overall.correct == 1 and summarize(data).graders is None
    assert set(data.grades) == {"symbolic", FINAL}
    api.regrade(db, {"grading": "both", "judge": "judge"}, judge=judge)
    assert dict(judge.calls) == calls  # every verdict came from the run's judge cache
    data = read(db)
    assert summarize(data).overall.correct == 2 and data.record.settings.grading == "both"
    assert [s.command for s in data.record.sessions] == ["run", "regrade", "regrade"]


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_grade_command(tmp_path):
    r = cli("grade", "--answer", "0.5", "--reference", r"\frac{1}{2}", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) | {"detail": ""} == {
        "correct": True,
        "status": "ok",
        "method": "numeric",
        "answer": "0.5",
        "detail": "",
    }
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps(p)
            for p in [
                {"answer": "1/3", "reference": r"\frac13"},
                {"answer": "2", "reference": "3"},
                {"answer": "10**10**10", "reference": "5"},
            ]
        )
    )
    r = cli("grade", "--pairs", str(pairs))
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert [v["correct"] for v in verdicts] == [True, False, False] and r.returncode == 0
    pairs.write_text('{"answer": "1"}\n')
    r = cli("grade", "--pairs", str(pairs))
    assert r.returncode == 2 and "pairs.jsonl:1: expected an object" in r.stderr
    r = cli("grade", "--answer", "1")
    assert r.returncode == 2 and "either --answer and --reference" in r.stderr
    r = cli("run", "--grading", "both", "--db", str(tmp_path / "x.sqlite"))
    assert r.returncode == 2 and "needs a judge model" in r.stderr
