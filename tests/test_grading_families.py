"""The symbolic grader on each family of printed answers (issue 12 section 1): what Python and sympy programs
print against MATH references, right answers and their near misses, one parametrized table per family."""

import pytest

from mathcodebench.grading.symbolic import grade_output


def verdict(output, reference, problem=""):
    grade = grade_output(output + "\n", reference, problem=problem)
    assert grade.status == "ok", grade
    return grade.correct


COMPLEX = [
    ("4 - 7*I", "4-7i", True),
    ("4 + 7*I", "4-7i", False),
    ("5*I/3", r"\frac{5}{3}i", True),
    ("5*I/3", r"\frac{5i}{3}", True),
    ("3*I/5", r"\frac{5}{3}i", False),
    ("sqrt(3)*I", r"i\sqrt{3}", True),
    ("sqrt(3)", r"i\sqrt{3}", False),
    ("1j", "i", True),
    ("-1j", "i", False),
    ("(3-1j)", "3-i", True),
    ("(3+1j)", "3-i", False),
    ("complex(2, -5)", "2-5i", True),
    ("complex(-5, 2)", "2-5i", False),
    ("(-3+4j)", "-3+4i", True),
    ("-3 + 4i", "-3+4i", True),
    ("(-3.0000000000000004+4j)", "-3+4i", True),
    ("0.4j", r"\frac{2}{5}i", True),
    ("0.41j", r"\frac{2}{5}i", False),
    ("-1 + 3*I", "i(3+i)", True),
    ("1 + 3*I", "i(3+i)", False),
    ("292j", "292i", True),
    ("292", "292i", False),
    ("(0.2+0.6j)", r"\frac{1}{5} + \frac{3}{5}i", True),
    ("(0.2+0.61j)", r"\frac{1}{5} + \frac{3}{5}i", False),
    ("[3j, -3j]", "3i,-3i", True),
    ("[3j]", "3i,-3i", False),
    ("(-0-3j) 3j", "3i,-3i", True),
    ("[(4+0j), (-2+3j), (-2-3j)]", "4, -2 + 3i, -2 - 3i", True),
    ("(6 + 8*I, 6 + 17*I)", "6 + 8i, 6 + 17i", True),
    ("np.complex128(1.5+1.5j)", r"\frac{3}{2} + \frac{3}{2} i", True),
    ("I", "i", True),
    ("-I", "i", False),
]
RELATIONS = [
    ("Eq(y, 3*x - 1)", "y=3x-1", True),
    ("Eq(y, 3*x + 1)", "y=3x-1", False),
    ("y = 3*x - 1", "y=3x-1", True),
    ("3*x - y - 1 = 0", "y=3x-1", True),
    ("3*x - 1", "y=3x-1", True),
    ("2*x - 2*y + 4 = 0", "y = x + 2", True),
    ("2*x - 2*y - 4 = 0", "y = x + 2", False),
    ("y = 0.5*x + 2", r"y = \frac{1}{2} x + 2", True),
    ("Eq(9*x**2 - 16*y**2, 144)", r"\frac{x^2}{16} - \frac{y^2}{9} = 1", True),
    ("x**2 + y**2 = 169", "x^2 + y^2 = 13", False),
    ("-20*x - 23*y - 26*z + 69 = 0", "20x + 23y + 26z - 69 = 0", True),
    ("20*x + 23*y + 26*z + 69 = 0", "20x + 23y + 26z - 69 = 0", False),
    ("4", "x = 4", True),
    ("x = -4", "x = 4", False),
    ("x > 2", r"(2,\infty)", True),
    ("x >= 2", r"(2,\infty)", False),
    ("Ne(x, 5)", r"(-\infty,5) \cup (5,\infty)", True),
    ("(x <= -5) | (x >= 5)", r"(-\infty,-5]\cup[5,\infty)", True),
    ("(x < -5) | (x > 5)", r"(-\infty,-5]\cup[5,\infty)", False),
    ("(1 < x) & (x < 3)", "(1,3)", True),
    ("And(x > 1, x < 3)", "(1,3)", True),
    ("x < -2 or x > 3", r"(-\infty, -2) \cup (3, \infty)", True),
    ("Union(Interval.open(-oo, 0), Interval.open(0, oo))", r"(-\infty,0)\cup (0,\infty)", True),
    ("Complement(Reals, {0})", r"(-\infty,0)\cup (0,\infty)", True),
    ("S.Reals", r"(-\infty,\infty)", True),
    ("Interval.open(-oo, 0)", r"(-\infty,0)\cup (0,\infty)", False),
    ("EmptySet", r"\emptyset", True),
    ("Union({-1}, Interval.Ropen(0, 7))", r"\{-1\} \cup [0,7)", True),
    ("{1, 2, 3}", r"\{1,2\}", False),
    ("Interval(6, oo)", r"[6,\infty)", True),
    ("Interval.open(6, oo)", r"[6,\infty)", False),
]
SOLVE_OUTPUT = [
    ("[2, 3]", "2, 3", True),
    ("[3, 2]", "2, 3", True),
    ("[2]", "2, 3", False),
    ("[1, 2, 3]", "2, 3", False),
    ("{x: 2}", "2", True),
    ("{x: 3}", "2", False),
    ("[{x: 2}, {x: 3}]", "2, 3", True),
    ("x = 2, x = 3", "2, 3", True),
    ("x = -2 or x = 3", "-2, 3", True),
    ("[(1, 2), (3, 4)]", "(1,2),(3,4)", True),
    ("[(1, 2)]", "(1,2),(3,4)", False),
    ("[1 - sqrt(19), 1 + sqrt(19)]", r"1 \pm \sqrt{19}", True),
    ("1 + sqrt(19)", r"1 \pm \sqrt{19}", False),
    ("[-3.36, 5.36]", r"1 \pm \sqrt{19}", False),
    ("[np.float64(1.5), np.float64(-2.0)]", r"-2,\frac{3}{2}", True),
    ("[ 1.5 -2. ]", r"-2,\frac{3}{2}", True),
    ("1 2", "1,2", True),
    ("Matrix([[-2], [6], [1]])", r"\begin{pmatrix} -2 \\ 6 \\ 1 \end{pmatrix}", True),
    ("[6, -2, 1]", r"\begin{pmatrix} -2 \\ 6 \\ 1 \end{pmatrix}", False),
    ("(1+2j, 3)", "(1+2i, 3)", True),
    ("ImmutableMatrix([[7, 1], [-1, -3]])", r"\begin{pmatrix} 7 & 1 \\ -1 & -3 \end{pmatrix}", True),
    ("Matrix([[7, -1], [1, -3]])", r"\begin{pmatrix} 7 & 1 \\ -1 & -3 \end{pmatrix}", False),
    ("Rational(1, 3)", r"\frac{1}{3}", True),
    ("Integer(42)", "42", True),
    ("Float(0.5)", r"\frac{1}{2}", True),
    ("oo", r"\infty", True),
    ("-oo", r"\infty", False),
    ("zoo", r"\infty", False),
    ("nan", "0", False),
    ("[nan, 1]", "1,2", False),
]
ORDER = [  # solution sets in any order; ordered pairs, tuples and vectors in order
    ("(3, -10)", "(3, -10)", True),
    ("[3, -10]", "(3, -10)", True),
    ("(-10, 3)", "(3, -10)", False),
    ("(3, 2, 1)", "(1,2,3)", False),
    ("{7, 9, 12, 13}", "7,9,12,13", True),
    ("[13, 12, 9, 7]", "7,9,12,13", True),
    ("(2, pi/3)", r"\left( 2, \frac{\pi}{3} \right)", True),
    ("(pi/3, 2)", r"\left( 2, \frac{\pi}{3} \right)", False),
]
NUMBERS = [
    ("3,120,000", "3120000", True),
    ("2,450,000", "2450000", True),
    ("2,450,001", "2450000", False),
    ("2,000.50", "2000.5", True),
    ("1,2", "1,2", True),
    ("12", "1,2", False),
    ("(3, 120)", r"3,\!120", False),
    ("3110400", r"3,\!110,\!400", True),
    ("111111111", r"111, \! 111, \! 111", True),
    ("15600", "15,600", True),
    ("[70, 110]", "70,110", True),
    ("4e-3", r"\frac{1}{250}", True),
    ("1.25e-05", r"\frac{1}{80000}", True),
    ("1.25e-06", r"\frac{1}{80000}", False),
    ("0.004", r"4 \times 10^{-3}", True),
    ("4e-4", r"4 \times 10^{-3}", False),
    ("2.5 \\times 10^{-4}", r"\frac{1}{4000}", True),
    ("6 1/5", r"6\frac15", True),
    ("6/5", r"6\frac15", False),
    ("137.5", r"137 \frac{1}{2}", True),
    ("33.33", r"33 \frac{1}{3}", False),
]
BASES = [
    ("312_4", "312_4", True),
    ("312", "312_4", True),
    ("3124", "312_4", False),
    ("312_5", "312_4", False),
    ("54", "312_4", False),
    ("5026_8", "5026_{8}", True),
    ("0o5026", "5026_{8}", True),
    ("0b1101", "1101_2", True),
    ("1101", "1101_2", True),
    ("13", "1101_2", False),
    ("152a", "152A_{11}", True),
    ("152B", "152A_{11}", False),
    ("-221", "-221_3", True),
    ("221", "-221_3", False),
    ("0x1f", "31", True),
]
PERCENT_DEGREES_MONEY_TIME = [
    ("40%", r"40\%", True),
    ("40", r"40\%", True),
    ("0.4", r"40\%", True),
    ("2/5", r"40\%", True),
    ("0.4%", r"40\%", False),
    ("25%", r"\frac{1}{4}", True),
    ("0.25%", "0.25", False),
    ("20%", "20", True),
    ("7.18%", r"7.2\%", False),
    ("25°", r"25^\circ", True),
    ("25 degrees", r"25^\circ", True),
    ("5*pi/36", r"25^\circ", False),
    ("45°, 135°", r"45^\circ, 135^\circ", True),
    ("[45]", r"45^\circ, 135^\circ", False),
    ("0.9743700647852352", r"\cos 13^\circ", True),
    ("cos(13)", r"\cos 13^\circ", False),
    ("$76.80", r"\$76.80", True),
    ("76.8", r"\$76.80", True),
    ("$76.08", r"\$76.80", False),
    ("-$0.50", r"-\$0.50", True),
    ("0.5", r"-\$0.50", False),
    ("1599 cents", r"1599 \text{ dollars}", False),
    ("14:05:00", "14:05", True),
    ("2:05 PM", "14:05", True),
    ("14:05:30", "14:05", False),
    ("13:03", r"\text{1:03 PM}", True),
    ("1:03 AM", r"\text{1:03 PM}", False),
    ("16:30", r"\text{4:30 p.m.}", True),
    ("9:00 AM", r"9\text{ a.m.}", True),
    ("9 PM", r"9\text{ a.m.}", False),
]
DECORATION = [
    ("7", r"7 \text{ days}", True),
    ("7 days", r"7 \text{ days}", True),
    ("8", r"7 \text{ days}", False),
    ("12 hr", r"12 \text{ hours}", True),
    ("12 minutes", r"12 \text{ hours}", False),
    ("6", "6 cm^2", True),
    ("6 m^2", "6 cm^2", False),
    ("440 cm^2", r"440\text{ cm}^2", True),
    ("440 cm", r"440\text{ cm}^2", False),
    ("144", r"144 \mbox{ m}^3", True),
    ("25 km", r"25 \, \text{km}", True),
    ("25 m", r"25 \, \text{km}", False),
    ("10", r"10\;\text{edges}", True),
    ("18", r"18\text{ ways.}", True),
    ("8*sqrt(3)", r"8\sqrt{3} \text { square inches}", True),
    ("1000", r"1\,000", True),
    ("C", r"\textbf{C}", True),
    ("B", r"\textbf{C}", False),
    ("C", r"\mathrm{C}", True),
    ("5", r"\boxed{5}", True),
    ("3/7", r"\dfrac{3}{7}", True),
    ("7/3", r"\dfrac{3}{7}", False),
    ("3/2", r"\tfrac{3}{2}", True),
    ("(1, 9/2)", r"\left(1,\frac{9}{2}\right)", True),
    ("sqrt(33)", r"\!\sqrt{33}", True),
    ("13", r"\text{13}", True),
    ("$\\frac{1}{2}$", r"\frac12", True),
    ("\\boxed{\\frac{1}{3}}", r"\frac12", False),
    ("4*t", "4t", True),
    ("4", "4t", False),
    ("7*p + 4*e", "7p+4e", True),
]
WORDS = [
    ("wednesday", r"\text{Wednesday}", True),
    ("Tuesday", r"\text{Wednesday}", False),
    ("(C)", r"\text{(C)}", True),
    ("C (circle)", r"\text{(C)}", True),
    ("A and C", r"\text{(C)}", False),
    ("D, A", r"\text{A,D}", True),
    ("['A', 'D']", r"\text{A,D}", True),
    ("A, C, D", r"\text{A,D}", False),
    ("A, C, F", r"\text{ACF}", True),
    ("c", "C", True),
    ("D", "C", False),
    ("CD", r"\overline{CD}", True),
    ("June 21", r"\text{June 20}", False),
]

SENTENCES = [  # a program that prints its answer in a sentence
    ("The number of ways is 12", "12", True),
    ("Answer: 3/4", r"\frac34", True),
    ("There are 4 ordered quadruples (a, b, c, d) such that matrix_eq_squared == matrix_eq.", "4", True),
    ("There are 12 ways to arrange the books.", "12", True),
    ("There is 1 solution.", "1", True),
    ("There are exactly 3 integers n such that n**2 < 10", "3", True),
    ("There are 2,450 possible codes", "2450", True),
    ("There are 13 ways to arrange the books.", "12", False),
    ("There are 4 solutions: 1, 2, 3, 5", "1, 2, 3, 5", True),
    ("There are no solutions", "0", False),
]


FAMILIES = {
    "complex": COMPLEX,
    "relations": RELATIONS,
    "solve-output": SOLVE_OUTPUT,
    "order": ORDER,
    "numbers": NUMBERS,
    "bases": BASES,
    "percent-degrees-money-time": PERCENT_DEGREES_MONEY_TIME,
    "decoration": DECORATION,
    "words": WORDS,
    "sentences": SENTENCES,
}
CASES = [(family, *case) for family, table in FAMILIES.items() for case in table]


@pytest.mark.parametrize("family,output,reference,expected", CASES, ids=[f"{f}:{o!r}~{r!r}" for f, o, r, _ in CASES])
def test_family(family, output, reference, expected):
    assert verdict(output, reference) is expected


@pytest.mark.parametrize(
    "output,problem,expected",
    [
        ("[1, 4]", "Find the ordered pair $(a,b)$.", True),
        ("[1, 4]", "Express the domain in interval notation.", False),
        ("[1, 4]", "", False),  # without the statement, brackets against an interval are interval notation
        ("(1, 4)", "Express the domain in interval notation.", True),
    ],
)
def test_the_problem_says_whether_a_bracketed_pair_is_a_point(output, problem, expected):
    assert verdict(output, "(1,4)", problem) is expected


@pytest.mark.parametrize(
    "output,reference,problem,expected",
    [
        ("20%", "20", "What percent of the students passed?", True),
        ("0.2%", "0.2", "What fraction of the students passed?", False),
        ("0.2%", "0.2", "", False),
        ("20%", "0.2", "", True),
    ],
)
def test_a_printed_percentage_is_its_value_and_the_number_asked_for(output, reference, problem, expected):
    assert verdict(output, reference, problem) is expected


@pytest.mark.parametrize("reference", [r"\overline{CD}", "f(2) < f(1) < f(4)", r"\text{no such thing}", "}{", ""])
def test_every_reference_gets_a_verdict_never_an_error(reference):
    for output in ("5", "CD", "x", "", "Interval(1, 2)"):
        grade = grade_output(output, reference)
        assert grade.status in {"ok", "no_answer"}, grade
