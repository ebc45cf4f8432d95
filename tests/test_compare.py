"""Comparing runs: McNemar's exact test (hand-computed values), the domain gap, and the CLI table."""

import subprocess
import sys

import pytest

from conftest import ScriptedModel, fenced, run_to_end
from mathcodebench.report import domain_gap, mcnemar_exact, paired, summarize, wilson
from mathcodebench.settings import Settings


@pytest.mark.parametrize(
    "b,c,p",
    [
        (0, 0, 1.0),
        (0, 5, 2 / 32),  # 2 * C(5,0) / 2^5
        (1, 9, 2 * 11 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (3, 3, 1.0),  # capped: 2 * 42/64 > 1
        (9, 1, 2 * 11 / 1024),
    ],
)
def test_mcnemar_exact(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p)


@pytest.mark.parametrize(
    "correct,n,low,high",
    [
        (5, 10, 0.2366, 0.7634),  # centre (0.5 + z²/20) / (1 + z²/10) = 0.5, half-width 0.2634
        (0, 10, 0.0, 0.2775),  # Wilson stays sound at 0 %: (z²/20) / (1 + z²/10) ± the same
        (10, 10, 0.7225, 1.0),
        (0, 0, 0.0, 1.0),  # no data: no information
    ],
)
def test_wilson_interval_against_hand_computed_values(correct, n, low, high):
    assert wilson(correct, n) == pytest.approx((low, high), abs=5e-5)


def _run(db, answers):
    script = {key: [fenced(f"print({value!r})")] for key, value in answers.items()}
    return run_to_end(Settings(model="scripted", limit=3, attempts=1), db, ScriptedModel(script))


def test_paired_comparison_and_cli(tmp_path):
    good = {"What is the value of $3x + 7$": "22", "slope of the line": "2/3", "For what values of $x$": "(1, 4)"}
    worse = {**good, "slope of the line": "3/2", "For what values of $x$": "(1, 5)"}
    a, b = _run(tmp_path / "a.sqlite", good), _run(tmp_path / "b.sqlite", worse)
    result = paired(a, b)
    assert (result.n, result.first_only, result.second_only) == (3, 2, 0)
    assert result.difference == pytest.approx(2 / 3) and result.p_value == pytest.approx(0.5)
    assert domain_gap(summarize(a)) is None  # no Number Theory problem among the three
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "McNemar" in r.stdout and "Best to worst: 66.7 points" in r.stdout


def test_domain_gap_is_number_theory_minus_the_rest(db):
    script = {
        "What is the value of $3x + 7$": [fenced("print(22)")],
        "greatest common divisor of 84 and 126": [fenced("print(21)")],
    }
    data = run_to_end(
        Settings(model="scripted", attempts=1, subjects=["Algebra", "Number Theory"], levels=[1]),
        db,
        ScriptedModel(script),
    )
    assert domain_gap(summarize(data)) == pytest.approx(-1.0)
