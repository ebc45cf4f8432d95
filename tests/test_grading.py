"""Grading of printed program output against the sample's LaTeX references, one row per answer shape."""

import pytest

from mathcodebench.data import load
from mathcodebench.grading import SymbolicGrader, answer_line
from mathcodebench.grading.pyexpr import Rejected, parse_python_expr
from mathcodebench.grading.symbolic import grade_output

# (reference in the sample, equivalent printed outputs, non-equivalent printed outputs)
SHAPES = [
    ("22", ["22", "22.0", "x = 22"], ["-22", "23", "21.9999"]),
    (r"\frac{2}{3}", ["2/3", "0.6666666666666666", "Rational(2, 3)"], ["0.67", "3/2", "2/3 + 1"]),
    # Against an interval, a bracketed pair is interval notation: `[1, 4]` is closed, so wrong here.
    ("(1, 4)", ["(1, 4)", "Interval.open(1, 4)"], ["[1, 4]", "[1, 4)", "(1, 5)", "Interval(1, 4)"]),
    ("2x^2 - 5x - 12", ["2*x**2 - 5*x - 12", "2*x^2 - 5*x - 12", "(2*x + 3)*(x - 4)"], ["2*x**2 - 5*x + 12", "2*x**2"]),
    ("(-2, 6]", ["(-2, 6]", "Interval.Lopen(-2, 6)"], ["(-2, 6)", "[-2, 6]"]),
    (r"\frac{1}{6}", ["1/6", "0.16666666666666666"], ["1/36", "0.17"]),
    (r"\sqrt{13}", ["sqrt(13)", "3.605551275463989"], ["13", "sqrt(5)"]),
    (r"9\sqrt{3}", ["9*sqrt(3)", "sqrt(243)", "15.588457268119896"], ["9*sqrt(2)", "36*sqrt(3)/2"]),
    (r"100 - 25\pi", ["100 - 25*pi", "-25*pi + 100", "21.460183660255172"], ["100 - 25", "100 - 50*pi"]),
    (r"3 + \sqrt{2}", ["3 + sqrt(2)", "sqrt(2) + 3", "4.414213562373095"], ["3 - sqrt(2)", "3"]),
    ("(3, -10)", ["(3, -10)", "[3, -10]"], ["(-10, 3)", "(3, 10)"]),
    (r"\frac{3x + 1}{x - 2}", ["(3*x + 1)/(x - 2)", "(3*x+1)/(x-2)"], ["(3*x - 1)/(x - 2)", "(x - 2)/(3*x + 1)"]),
    (r"\frac{4}{11}", ["4/11", "0.36363636363636365"], ["36/100", "0.36"]),
    ("202_7", ["202"], ["100", "2020"]),
    (r"\$50", ["50", "$50", "50.0"], ["40", "$40"]),
    (r"\text{Wednesday}", ["Wednesday", "wednesday"], ["Tuesday", "Monday"]),
    (r"40\%", ["40", "40%"], ["60", "60%"]),
    (r"\left( 2, \frac{\pi}{3} \right)", ["(2, pi/3)", "(2, 1.0471975511965976)"], ["(2, pi/6)", "(pi/3, 2)"]),
    (
        r"\begin{pmatrix} -2 \\ 6 \\ 1 \end{pmatrix}",
        ["(-2, 6, 1)", "[-2, 6, 1]", "Matrix([[-2], [6], [1]])"],
        ["(2, 6, 1)", "(-2, 6)"],
    ),
    (
        r"\frac{\pi}{2}, \frac{7\pi}{6}, \frac{11\pi}{6}",
        ["pi/2, 7*pi/6, 11*pi/6", "[pi/2, 7*pi/6, 11*pi/6]"],
        ["pi/2, 7*pi/6", "pi/2"],
    ),
    (r"\text{(C)}", ["C", "(C)"], ["B", "(A)"]),
    (r"\frac{1}{2}", ["1/2", "0.5", "0.500000000001"], ["0.49", "2"]),
    (r"\frac{19}{12}", ["19/12", "1.5833333333333333"], ["1.58", "12/19"]),
    (r"\frac{5}{14}", ["5/14", "0.35714285714285715", "20/56"], ["25/64", "0.357"]),
    (r"12\sqrt{5}", ["12*sqrt(5)", "sqrt(720)", "26.832815729997478"], ["12*sqrt(3)", "720"]),
]


@pytest.mark.parametrize("reference,good,bad", SHAPES, ids=[s[0] for s in SHAPES])
def test_answer_shapes(reference, good, bad):
    for output in good:
        grade = grade_output(output + "\n", reference)
        assert grade.correct, f"{output!r} should equal {reference!r} ({grade})"
    for output in bad:
        grade = grade_output(output + "\n", reference)
        assert not grade.correct, f"{output!r} should differ from {reference!r} ({grade})"


def test_every_sample_reference_is_covered_by_a_shape_row():
    references = {r for r, _, _ in SHAPES}
    sample = {p.answer for p in load("sample").problems}
    simple_integers = {a for a in sample if a.isdigit()}
    assert sample - simple_integers <= references, sample - simple_integers - references


def test_answer_is_the_last_non_empty_line():
    assert answer_line("working...\nx = 3\n\n  42  \n\n") == "42"
    assert answer_line("\n \n") == ""
    assert grade_output("step 1: 7\n22\n", "22").answer == "22"


def test_no_output_is_no_answer():
    grade = grade_output("   \n", "5")
    assert grade.status == "no_answer" and not grade.correct


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "().__class__.__bases__",
        "open('/etc/passwd').read()",
        "lambda: 1",
        "'a' * 10",
        "Interval.__init__",
        "x if True else y",
        "1" * 5000,
        "(" * 60 + "1" + ")" * 60,
    ],
)
def test_parser_rejects_anything_but_plain_math(text):
    with pytest.raises(Rejected):
        parse_python_expr(text)


def test_pathological_inputs_end_within_the_deadline_with_a_status():
    with SymbolicGrader(deadline_s=3) as grader:
        slow = grader.grade("10**10**10\n", "5")
        assert slow.status in {"timeout", "ok"} and not slow.correct
        # the worker is usable after a kill
        assert grader.grade("1/3\n", r"\frac{1}{3}").correct
        huge = grader.grade("9" * 1_000_000 + "\n", "5")
        assert huge.status in {"ok", "timeout"} and not huge.correct
        deep = grader.grade("[" * 10_000 + "]" * 10_000 + "\n", "5")
        assert not deep.correct


# -- the shapes and near-misses, as (printed output, reference, expected verdict) ------------------
NEAR_MISSES = [
    ("1/3", r"\frac{1}{3}", True),
    ("0.333333333333", r"\dfrac{1}{3}", True),
    ("0.33", r"\frac{1}{3}", False),
    ("Rational(1, 3)", r"\frac{1}{3}", True),
    ("sqrt(2)/2", r"\frac{\sqrt{2}}{2}", True),
    ("sqrt(2)/2", r"\sqrt{2}/2", True),
    ("2*sqrt(3)", r"2\sqrt{3}", True),
    ("(1, 2)", "(1,2)", True),
    ("(1, 2)", "[1,2]", False),
    ("[-2, 5)", "[-2,5)", True),
    ("x**2 + 1", "x^2+1", True),
    ("{1, 2}", r"\{1,2\}", True),
    ("3.0", "3", True),
    ("45 degrees", r"45^\circ", True),
    ("$5", r"\$5", True),
    ("2", "2.0001", False),
    ("-2", "2", False),
    ("-1/3", r"\frac{1}{3}", False),
    ("2*pi", r"2\pi", True),
    ("6.283185307179586", r"2\pi", True),
    ("6.28", r"2\pi", False),
    ("12 cm", r"12\text{ cm}", True),
    ("C", r"\text{(C)}", True),
    ("Answer: 5", "5", True),
    ("The final answer is 7/2", r"\frac{7}{2}", True),
    ("0.0000001", r"\frac{1}{5000000}", False),  # math-verify's 6-decimal rounding alone would say equal
    ("0.0000002", r"\frac{1}{5000000}", True),
    ("1000000.1", "1000000", True),
    ("1000001", "1000000", False),
    ("[1, 5]", r"x \in [1,5]", True),
]


@pytest.mark.parametrize("output,reference,expected", NEAR_MISSES)
def test_near_misses(output, reference, expected):
    grade = grade_output(output, reference)
    assert grade.correct is expected, grade
    assert grade.status == "ok"


def test_tolerance_is_relative_and_recorded():
    grade = grade_output("0.33333", r"\frac{1}{3}", rel_tol=1e-6)  # 1e-5 off, relatively
    assert not grade.correct and "rel_tol=1e-06" in grade.detail and grade.method == "numeric"
    assert grade_output("0.33333", r"\frac{1}{3}", rel_tol=1e-4).correct


def test_multi_line_output_grades_the_last_line():
    assert grade_output("x = 3\ny = 4\n7\n", "7").correct
    assert not grade_output("7\ndone\n", "7").correct


def test_integer_fast_path_agrees_with_the_full_grader():
    with SymbolicGrader() as grader:
        for output, reference in [
            ("42", "42"),
            ("-7", "-7"),
            ("007", "7"),
            ("42", "43"),
            ("42.0", "42"),
            ("x = 42", "42"),
            ("42", r"\$42"),
        ]:
            fast = grader.grade(output + "\n", reference)
            assert fast.correct == grade_output(output + "\n", reference).correct, (output, reference)
        assert grader.grade("12\n", "12").method == "integer"
