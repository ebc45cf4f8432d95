"""A judge's calibration against the labelled corpus: computed from the confusion matrix, kept per judge spec and
prompt version, found under any name of the same embedded weights, shown by the report of a run graded by both
graders, and obeyed by the shipped demos (no judge headlined that its measurement calls unreliable)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from conftest import ScriptedModel, fenced, run_to_end
from mathcodebench.grading import calibration
from mathcodebench.grading.agreement import agreement
from mathcodebench.grading.calibration import RELIABLE_KAPPA, Calibration
from mathcodebench.grading.judge import JUDGE_PROMPT_VERSION
from mathcodebench.models.weights import QWEN_CODER_05B
from mathcodebench.report import summarize
from mathcodebench.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {
    "weights_sha256": QWEN_CODER_05B.sha256,
    "unparseable": 0,
    "date": "2026-12-01",
    "corpus": "c.jsonl",
    "corpus_sha256": "0" * 64,
}


def measured(labels: list[bool], verdicts: list[bool], of: int | None = None) -> Calibration:
    return Calibration.of(agreement(labels, verdicts), of or len(labels), **KNOWN)


def test_rates_come_from_the_confusion_matrix_of_labels_and_verdicts():
    # 6 labelled correct (5 accepted), 4 labelled incorrect (3 accepted: false accepts)
    c = measured([True] * 6 + [False] * 4, [True] * 5 + [False] + [True] * 3 + [False])
    assert (c.n, c.labelled_correct, c.labelled_incorrect) == (10, 6, 4)
    assert (c.false_accepts, c.false_accept, c.false_rejects) == (3, 0.75, 1)
    assert c.false_reject == pytest.approx(1 / 6, abs=1e-4) and c.agreement == 0.6
    assert not c.reliable and "unreliable" in c.describe() and "false accepts 75 % (3/4)" in c.describe()


def test_a_judge_that_agrees_with_the_labels_is_reliable_and_a_sample_says_so():
    c = measured([True] * 5 + [False] * 5, [True] * 5 + [False] * 5, of=40)
    assert c.kappa == 1.0 >= RELIABLE_KAPPA and c.reliable
    assert "a random 10 of its 40" in c.describe() and ": reliable" in c.describe()


def test_recorded_per_spec_and_prompt_version_and_found_under_another_name_of_the_weights(tmp_path):
    path = tmp_path / "calibration.json"
    c = measured([True, False], [True, True])
    calibration.record("embedded", "judge-v1", c, path)
    calibration.record("openai/gpt-x", "judge-v1", measured([True], [True]), path)
    assert calibration.known("embedded", "judge-v1", path) == c
    assert calibration.known("qwen2.5-coder-0.5b", "judge-v1", path) == c  # the same weights
    assert calibration.known("embedded", "judge-v2", path) is None  # another prompt is another judge
    assert calibration.known("embedded-1.5b", "judge-v1", path) is None
    assert calibration.known("openai/gpt-x", "judge-v1", path).n == 1


def test_a_run_graded_by_both_shows_which_verdict_counts_and_the_judges_calibration(db, tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(calibration, "CALIBRATION", path)
    judge = ScriptedModel({"What is the value of $3x + 7$": ['{"score": 5, "reason": "same"}']})
    judge.spec = "judge-model"
    model = ScriptedModel({"What is the value of $3x + 7$": [fenced("print(22)")]})
    settings = Settings(model="scripted", limit=1, attempts=1, grading="both", judge="judge-model", decisive="symbolic")
    data = run_to_end(settings, db, model, judge=judge)
    roles = summarize(data).graders.roles
    assert "the symbolic grader's; the judge is the cross-check" in roles and "not measured" in roles
    calibration.record("judge-model", JUDGE_PROMPT_VERSION, measured([True, False, False], [True, True, True]), path)
    roles = summarize(data).graders.roles
    assert "Cohen's kappa 0.00" in roles and "false accepts 100 % (2/2)" in roles and "unreliable" in roles


@pytest.mark.parametrize("study", ["demo.toml", "demo-full.toml"])
def test_the_demos_headline_the_judge_only_if_its_shipped_calibration_calls_it_reliable(study):
    config = tomllib.loads((ROOT / "studies" / study).read_text())["study"]
    measured_judge = calibration.known(config["judge"], JUDGE_PROMPT_VERSION)
    assert measured_judge is not None, f"the shipped calibration has no entry for {config['judge']}"
    headline = config.get("decisive", "judge")  # mode both: the judge's verdict counts unless decisive says not
    assert headline == ("judge" if measured_judge.reliable else "symbolic")
