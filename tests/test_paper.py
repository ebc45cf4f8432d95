"""The paper's published figures beside ours: the data file, model matching, each statistic against a hand
count, and the comparison in the console, JSON, HTML and LaTeX reports alike."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from mathcodebench.report.html import render_html
from mathcodebench.report.latex import render
from mathcodebench.report.paper import Paper, compare_to_paper, difference_interval, paper_model, published
from mathcodebench.report.summary import Tally, wilson
from mathcodebench.report.tables import paper_table, report_input
from reportruns import GPT, LIMIT, LLAMA, MAMBA, make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("paper"))


@pytest.fixture(scope="module")
def rows(runs):
    built = report_input(runs)
    return {(r.statistic, r.scope): r for r in built.paper.rows}


def test_the_data_file_holds_the_abstracts_figures_with_their_source():
    paper = published()
    assert paper.source.arxiv == "2501.17084" and paper.source.where == "abstract"
    figures = {(f.statistic, f.model): (f.relation, f.value) for f in paper.figures}
    assert figures == {
        ("accuracy", "gpt-4o-mini"): ("=", 83.7),
        ("accuracy", "open-codestral-mamba:v0.1"): ("=", 49.2),
        ("gap", None): ("=", 34.5),
        ("tbt_accuracy", "llama3.1:8b"): ("=", 0.8),
        ("tbt_execution_time", "llama3.1:8b"): ("=", -36.7),
        ("unsafe", None): ("<", 1.0),
        ("unsolved", None): ("=", 3.17),
    }
    assert all(f.quote for f in paper.figures)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai-compatible/GPT-4o-mini", "gpt-4o-mini"),
        ("mistral/open-codestral-mamba", "open-codestral-mamba:v0.1"),
        ("mistral/codestral-mamba-2407", "open-codestral-mamba:v0.1"),
        ("ollama/open-codestral-mamba:v0.1", "open-codestral-mamba:v0.1"),
        ("ollama/llama3.1:8b", "llama3.1:8b"),
        ("ollama/llama3.1", "llama3.1:8b"),
        ("ollama/llama3.1:latest", "llama3.1:8b"),
        ("openai-compatible/meta-llama/Llama-3.1-8B-Instruct", "llama3.1:8b"),
        ("embedded", None),
        ("openai/gpt-4o", None),
        ("openai/gpt-4o-mini-2024-09-01", None),
        ("ollama/llama3.1:70b", None),
        ("ollama/llama3.2:3b", None),
        ("mistral/codestral-2501", None),  # run by the paper, but it published no figure for it
    ],
)
def test_models_are_matched_by_name_without_the_backend(spec, expected):
    found = paper_model(spec, published())
    assert (found.id if found else None) == expected


def test_a_model_the_paper_ran_gets_its_accuracy_beside_ours(runs, rows):
    gpt = rows[("accuracy", GPT)]
    # 14 problems, every one answered correctly (3 of them after a repaired first program)
    assert (gpt.ours, gpt.paper, gpt.published) == (1.0, 0.837, "83.7")
    assert gpt.ci == pytest.approx(wilson(LIMIT, LIMIT))
    assert gpt.difference == pytest.approx(1 - 0.837)
    assert gpt.inside == (wilson(LIMIT, LIMIT)[0] <= 0.837)
    mamba = rows[("accuracy", MAMBA)]
    assert mamba.ours == pytest.approx(5 / 14)  # i % 3 == 0 of 0..13
    assert mamba.inside  # 49.2 % lies in [16.3, 61.2]
    # llama3.1:8b has no published accuracy; its tbt run never gets a model figure
    assert not [key for key in rows if key[0] == "accuracy" and LLAMA in key[1]]


def test_nothing_is_shown_for_a_model_the_paper_did_not_run(runs):
    renamed = replace(runs[1], record=runs[1].record.model_copy(update={"model": "ollama/qwen2.5:7b"}))
    built = report_input([renamed])
    assert [r.statistic for r in built.paper.rows] == ["unsafe", "unsolved"]  # statistics of every report


def test_the_gap_is_best_minus_worst_over_distinct_models_with_a_newcombe_interval(runs, rows):
    (gap,) = [r for (statistic, _), r in rows.items() if statistic == "gap"]
    built = report_input(runs)
    by_label = {s.label: s for s in built.summaries}
    best, worst = by_label[GPT].overall, by_label[MAMBA].overall
    assert gap.scope == f"{GPT} \u2212 {MAMBA}"
    assert gap.ours == pytest.approx(best.accuracy - worst.accuracy)
    assert gap.ci == pytest.approx(difference_interval(best, worst))
    assert gap.paper == 0.345


def test_newcombe_interval_matches_his_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339
    low, high = difference_interval(Tally(n=70, correct=56), Tally(n=80, correct=48))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_the_tbt_effect_comes_from_the_paired_runs(rows):
    acc = rows[("tbt_accuracy", f"{LLAMA} (tbt \u2212 full)")]
    # 7 broken first programs; the continuation repairs the 4 with i % 4 == 1 (1, 5, 9, 13); full repairs none
    assert acc.ours == pytest.approx(4 / 14)
    assert acc.ci[0] <= acc.ours <= acc.ci[1] and acc.ci[0] > 0
    assert not acc.inside and acc.paper == 0.008
    assert "the paper's figure is for" not in acc.note  # the same model as the paper's
    time = rows[("tbt_execution_time", f"{LLAMA} (tbt vs full)")]
    assert time.unit == "relative" and time.ci[0] <= time.ours <= time.ci[1] and time.paper == -0.367


def test_unsafe_and_unsolved_are_pooled_over_the_runs(runs, rows):
    built = report_input(runs)
    unsafe = rows[("unsafe", "all runs pooled")]
    programs = sum(s.safety.programs for s in built.summaries)
    assert unsafe.ours == pytest.approx(1 / programs)  # the one file write
    assert unsafe.relation == "<" and unsafe.inside == (unsafe.ci[0] < 0.01) and unsafe.published == "< 1"
    unsolved = rows[("unsolved", "all runs pooled")]
    # gpt 0, mamba 0, llama full 7 (both attempts broken), llama tbt 3 (i % 4 == 3 continue into 1 / 0)
    assert unsolved.ours == pytest.approx(10 / (4 * LIMIT))
    assert "after 2 attempts (the paper allowed 10)" in unsolved.note


def test_a_bound_is_inside_when_our_interval_reaches_below_it(runs):
    paper = published()
    bound = Paper(
        source=paper.source, models=paper.models, figures=[f for f in paper.figures if f.statistic == "unsafe"]
    )
    built = report_input(runs)
    (row,) = compare_to_paper(runs, built.summaries, built.ablations, bound).rows
    assert row.inside == (row.ci[0] < 0.01)
    tight = Paper(
        source=paper.source, models=paper.models, figures=[f.model_copy(update={"value": 0.001}) for f in bound.figures]
    )
    (row,) = compare_to_paper(runs, built.summaries, built.ablations, tight).rows
    assert row.ci[0] > 0.00001 and not row.inside


def test_console_json_html_and_latex_all_show_the_comparison(runs):
    dbs = [str(r.path) for r in runs]
    out = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", *dbs, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    payload = json.loads(out.stdout)
    assert {r["statistic"] for r in payload["paper"]["rows"]} == {
        "accuracy",
        "gap",
        "tbt_accuracy",
        "tbt_execution_time",
        "unsafe",
        "unsolved",
    }
    assert payload["paper"]["url"] == "https://arxiv.org/abs/2501.17084"
    shown = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", dbs[0]],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "The paper's published figures beside ours" in shown.stdout
    assert "accuracy, gpt-4o-mini" in shown.stdout and "83.7" in shown.stdout
    html = render_html(runs)
    assert 'id="paper"' in html and "accuracy, gpt-4o-mini" in html and "<td>83.7</td>" in html
    latex = render(paper_table(report_input(runs)))
    assert "accuracy, gpt-4o-mini" in latex and " & 83.7 & " in latex and r"\label{tab:mcb-paper}" in latex
