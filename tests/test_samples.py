"""Repeated samples (--samples N): each sample its own attempt loop and seeds, stored per sample, resumable;
pass@k (Chen et al.'s estimator) and maj@k (answers grouped by symbolic equivalence) against hand counts; the
paired comparison on solve rates; the CLI report, HTML, viewer and export."""

import csv
import json
import subprocess
import sys
from math import comb

import httpx
import pytest

from conftest import ScriptedModel, fenced, read, run_to_end
from mathcodebench import api
from mathcodebench.report import paired, summarize
from mathcodebench.report.html import render_html
from mathcodebench.report.samples import bootstrap_mean, ks, majority_correct, pass_at_k
from mathcodebench.report.viewer import make_server
from mathcodebench.settings import Settings

A, B, C = "What is the value of $3x + 7$", "slope of the line", "For what values of $x$"  # 22, 2/3, (1, 4)
SETTINGS = Settings(model="scripted", limit=3, samples=4, attempts=2, seed=5)


def script():
    """Per problem, the responses in the order the samples ask (sample 1 first)."""
    return {
        A: [fenced(f"print({v})") for v in ("22", "21", "22", "44 / 2")],  # 3 of 4 right; 22 and 22.0 one vote
        B: [fenced(f"print('{v}')") for v in ("3/2", "3/2", "2/3", "0.5")],  # 1 of 4; the majority is wrong
        C: [
            fenced("print(x)"),
            fenced("print((1, 4))"),
            fenced("print('(1, 4)')"),
            fenced("raise SystemExit(2)"),
            fenced("raise SystemExit(2)"),
            fenced("print([1, 4])"),
        ],  # sample 1 retried; sample 3 unsolved
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    db = tmp_path_factory.mktemp("samples") / "run.sqlite"
    return run_to_end(SETTINGS, db, ScriptedModel(script()))


def test_each_sample_has_its_own_attempt_loop_and_seeds(run):
    attempts = run.attempts
    assert sorted(attempts) == [
        (pid, s) for pid in ("sample/algebra/1", "sample/algebra/2", "sample/algebra/3") for s in (1, 2, 3, 4)
    ]
    # seed + (sample - 1) x attempts + attempt - 1; first attempts sample at the sample temperature (0.7)
    seeds = {unit: [(a.params.seed, a.params.temperature) for a in tried] for unit, tried in attempts.items()}
    assert seeds[("sample/algebra/1", 1)] == [(5, 0.7)] and seeds[("sample/algebra/1", 4)] == [(11, 0.7)]
    assert seeds[("sample/algebra/3", 1)] == [(5, 0.7), (6, 0.7)]  # retry at the retry temperature (also 0.7)
    assert [a.status for a in attempts[("sample/algebra/3", 3)]] == ["runtime_error", "runtime_error"]
    assert all(a.sample == unit[1] for unit, tried in attempts.items() for a in tried)


def test_pass_at_k_and_maj_at_k_against_hand_counts(run):
    s = summarize(run)
    assert s.samples == 4 and s.overall.n == 3 and s.overall.correct == 3 + 1 + 2
    assert s.overall.accuracy == pytest.approx(6 / 12)
    assert s.solve_rates == {1: 1, 2: 1, 3: 1}
    assert [p.k for p in s.pass_at] == [1, 2, 4]
    expected = [sum(1 - comb(4 - c, k) / comb(4, k) for c in (3, 1, 2)) / 3 for k in (1, 2, 4)]
    assert [p.value for p in s.pass_at] == pytest.approx(expected)
    assert s.pass_at[-1].value == 1.0
    # votes: A: 22 | 21 | 22 | 22.0 -> 22 wins at every k. B: 3/2 | 3/2 | 2/3 | 0.5 -> 3/2 wins: wrong.
    # C: (1, 4) | (1, 4) | none (unsolved: no vote) | [1, 4] -> (1, 4) wins.
    assert [run.votes[("sample/algebra/1", s)] for s in (1, 2, 3, 4)] == [1, 2, 1, 1]
    assert [run.votes[("sample/algebra/2", s)] for s in (1, 2, 3, 4)] == [1, 1, 3, 4]
    assert ("sample/algebra/3", 3) not in run.votes
    assert [m.value for m in s.maj_at] == pytest.approx([2 / 3, 2 / 3, 2 / 3])
    assert s.unsolved == ["sample/algebra/3#3"] and s.unsolved_rate == pytest.approx(1 / 12)
    low, high = s.overall.interval
    assert low < 0.5 < high  # a bootstrap over the three problems' rates (0.75, 0.25, 0.5)


def test_the_estimators_by_hand():
    assert pass_at_k(10, 0, 1) == 0 and pass_at_k(10, 10, 5) == 1 and pass_at_k(5, 4, 2) == 1
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)
    assert ks(1) == [1] and ks(8) == [1, 2, 4, 8] and ks(6) == [1, 2, 4, 6]
    # ties go to the class whose first answer came earliest
    assert majority_correct({1: 1, 2: 2}, {1: False, 2: True}, 2) is False
    assert majority_correct({1: 1, 2: 2, 3: 2}, {1: False, 2: True, 3: True}, 3) is True
    assert majority_correct({}, {}, 4) is False
    assert bootstrap_mean([0.5] * 7) == (0.5, 0.5)


def test_resume_continues_at_the_sample_that_was_interrupted(tmp_path):
    db = tmp_path / "run.sqlite"
    interrupted = {**script(), B: [fenced("print('3/2')"), KeyboardInterrupt()]}
    with pytest.raises(KeyboardInterrupt), api.start(SETTINGS, db, model=ScriptedModel(interrupted)) as session:
        session.execute()
    before = read(db)
    assert set(before.final) == {("sample/algebra/1", s) for s in (1, 2, 3, 4)} | {("sample/algebra/2", 1)}
    assert not before.votes.keys() - {("sample/algebra/1", s) for s in (1, 2, 3, 4)}
    rest = {**script(), B: script()[B][1:]}
    fresh = ScriptedModel(rest)
    with api.resume(db, model=fresh) as session:
        session.execute()
    after = read(db)
    assert A not in fresh.calls and fresh.calls[B] == 3  # samples 2, 3 and 4 of B, then all of C
    whole = run_to_end(SETTINGS, tmp_path / "whole.sqlite", ScriptedModel(script()))
    assert {u: g.correct for u, g in after.final.items()} == {u: g.correct for u, g in whole.final.items()}
    assert after.votes == whole.votes


def test_paired_comparison_uses_solve_rates(run, tmp_path):
    worse = {**script(), A: [fenced("print(21)")] * 4}
    other = run_to_end(SETTINGS, tmp_path / "worse.sqlite", ScriptedModel(worse))
    result = paired(run, other)
    assert (result.n, result.first_only, result.second_only) == (3, 1, 0)
    assert result.difference == pytest.approx(0.75 / 3) and result.interval is not None
    low, high = result.interval
    assert low <= 0.25 <= high


def test_report_html_viewer_and_export_show_the_samples(run, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", str(run.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "pass@k and maj@k" in r.stdout and "Problems by samples correct: 1/4: 1, 2/4: 1, 3/4: 1" in r.stdout
    assert "attempts): 1 of 12 samples" in r.stdout  # unsolved samples out of samples, not of problems
    as_json = json.loads(
        subprocess.run(
            [sys.executable, "-m", "mathcodebench.cli", "report", str(run.path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert [p["k"] for p in as_json["pass_at"]] == [1, 2, 4] and as_json["samples"] == 4
    html = render_html([run])
    assert 'id="samples"' in html and "pass@k" in html and "sample/algebra/3#3" in html
    assert "<td>1 (8.3 %)</td>" in html  # 1 unsolved of 12 samples (it said 33.3 %: of 3 problems)
    out = tmp_path / "export"
    assert (
        subprocess.run(
            [sys.executable, "-m", "mathcodebench.cli", "export", str(run.path), "--out", str(out)],
            capture_output=True,
            timeout=120,
        ).returncode
        == 0
    )
    problems = list(csv.DictReader((out / "run-problems.csv").open()))
    assert len(problems) == 12 and {p["sample"] for p in problems} == {"1", "2", "3", "4"}
    assert [p["vote_class"] for p in problems if p["problem_id"] == "sample/algebra/2"] == ["1", "1", "3", "4"]
    server = make_server([run.path], port=0)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        index = httpx.get(base + "/").text
        assert "sample/algebra/2#4" in index
        page = httpx.get(base + "/problem", params={"run": 0, "id": "sample/algebra/3", "sample": 3}).text
        assert "Samples:" in page and "Attempt 2: runtime_error" in page
        assert httpx.get(base + "/problem", params={"run": 0, "id": "sample/algebra/3", "sample": 9}).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
