"""The attempt loop with a scripted model: every failure status, the feedback text, and the attempt cap."""

import pytest

from conftest import ScriptedModel, fenced
from mathcodebench.data import Problem
from mathcodebench.models import ModelError
from mathcodebench.sandbox import Limits, create_sandbox
from mathcodebench.solve import AttemptStatus, SolvePolicy, solve

PROBLEM = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
POLICY = SolvePolicy(attempts=4, limits=Limits(timeout_s=2, memory_mb=512))


@pytest.fixture(scope="module")
def box():
    sandbox = create_sandbox("subprocess")
    yield sandbox
    sandbox.close()


def run(box, responses, policy=POLICY):
    model = ScriptedModel({"6 times 7": responses})
    return solve(PROBLEM, model, box, policy), model


@pytest.mark.parametrize(
    "response,status,error_type",
    [
        ("I think it is 42.", AttemptStatus.NO_CODE, None),
        (fenced("print(6 *)"), AttemptStatus.SYNTAX_ERROR, "SyntaxError"),
        (fenced("def f():\nreturn 1"), AttemptStatus.SYNTAX_ERROR, "IndentationError"),
        (fenced("values = [1]\nprint(values[3])"), AttemptStatus.RUNTIME_ERROR, "IndexError"),
        (fenced("import time\ntime.sleep(30)"), AttemptStatus.TIMEOUT, None),
        (fenced("x = bytearray(50 * 10**9)"), AttemptStatus.MEMORY, "MemoryError"),
        (fenced("while True:\n    print('spam' * 1000)"), AttemptStatus.OUTPUT_LIMIT, None),
        (fenced("x = 6 * 7"), AttemptStatus.EMPTY_OUTPUT, None),
    ],
)
def test_each_failure_has_its_status_and_is_retried(box, response, status, error_type):
    attempts, _ = run(box, [response, fenced("print(6 * 7)")])
    assert [a.status for a in attempts] == [status, AttemptStatus.ANSWERED]
    assert attempts[0].error_type == error_type
    assert attempts[1].stdout == "42\n" and attempts[1].number == 2


def test_runtime_error_feedback_names_exception_line_and_traceback(box):
    attempts, model = run(box, [fenced("a = 6\nb = 0\nprint(a / b)"), fenced("print(42)")])
    feedback = attempts[0].feedback
    assert "ZeroDivisionError" in feedback
    assert "line 3: print(a / b)" in feedback
    assert 'File "main.py", line 3' in feedback
    retry = model.seen[1]
    assert [m.role for m in retry] == ["system", "user"]
    assert PROBLEM.problem in retry[1].content and feedback in retry[1].content
    assert attempts[0].response not in retry[1].content  # small models copy a replayed failure verbatim


def test_feedback_names_library_files_without_this_machine_s_install_path(box):
    attempts, _ = run(
        box, [fenced("from fractions import Fraction\nimport sympy\nprint(Fraction(1, 0))"), fenced("print(42)")]
    )
    assert "ZeroDivisionError" in attempts[0].feedback and 'File "fractions.py"' in attempts[0].feedback
    assert "/usr/" not in attempts[0].feedback and ".venv" not in attempts[0].feedback
    assert "/lib/python3" in attempts[0].stderr  # the stored stderr stays as the program saw it


def test_syntax_error_feedback_points_at_the_line(box):
    attempts, _ = run(box, [fenced("x = 1\nprint(x +)"), fenced("print(42)")])
    assert "line 2" in attempts[0].feedback and attempts[0].exec_s == 0  # never executed


def test_feedback_none_resamples_the_original_prompt(box):
    policy = POLICY.model_copy(update={"feedback": "none"})
    attempts, model = run(box, [fenced("raise ValueError('x')"), fenced("print(42)")], policy)
    assert attempts[0].feedback is None
    assert model.seen[0] == model.seen[1]


def test_a_wrong_answer_is_not_retried(box):
    attempts, _ = run(box, [fenced("print(41)"), fenced("print(42)")])
    assert len(attempts) == 1 and attempts[0].status == AttemptStatus.ANSWERED


def test_attempts_stop_at_the_cap_and_the_problem_is_unsolved(box):
    attempts, _ = run(box, [fenced("raise RuntimeError('no')")])
    assert len(attempts) == POLICY.attempts
    assert all(a.status == AttemptStatus.RUNTIME_ERROR for a in attempts)


def test_retries_sample_with_their_own_recorded_seed_and_temperature(box):
    attempts, _ = run(
        box, [fenced("raise RuntimeError('no')"), fenced("raise RuntimeError('no')"), fenced("print(42)")]
    )
    assert [(a.params.temperature, a.params.seed) for a in attempts] == [(0.0, 0), (0.7, 1), (0.7, 2)]


def test_a_reply_cut_off_at_the_token_limit_is_explained(box):
    class CutOff(ScriptedModel):
        def generate(self, messages, params):
            completion = super().generate(messages, params)
            return completion.model_copy(update={"finish_reason": "length" if len(self.seen) == 1 else "stop"})

    model = CutOff({"6 times 7": ["```python\nx = Rational(36, 1000000000", fenced("print(42)")]})
    attempts = solve(PROBLEM, model, box, POLICY)
    assert attempts[0].status == AttemptStatus.SYNTAX_ERROR
    assert "cut off at the token limit" in attempts[0].feedback


def test_an_infrastructure_failure_ends_the_call_without_using_up_an_attempt(box):
    """A backend failure is not the model's: the problem stops, and continuing it makes the same attempt again
    (attempt 1, seed 0, no feedback), then counts attempts without the failure."""
    model = ScriptedModel({"6 times 7": [ModelError("server went away"), fenced("x = 1"), fenced("print(42)")]})
    first = solve(PROBLEM, model, box, POLICY)
    assert [(a.number, a.status, a.error_type) for a in first] == [(1, AttemptStatus.MODEL_ERROR, "ModelError")]
    assert first[0].feedback is None and first[0].params.seed == 0
    later = solve(PROBLEM, model, box, POLICY, start_after=first)
    assert [(a.number, a.status) for a in later] == [
        (1, AttemptStatus.MODEL_ERROR),
        (2, AttemptStatus.EMPTY_OUTPUT),
        (3, AttemptStatus.ANSWERED),
    ]
    assert [a.params.seed for a in later] == [0, 0, 1] and [a.params.temperature for a in later] == [0.0, 0.0, 0.7]
    assert model.seen[1] == model.seen[0]  # the retried attempt 1 got the first prompt, not a retry prompt
    budget = solve(
        PROBLEM,
        ScriptedModel({"6 times 7": [fenced("x = 1")]}),
        box,
        POLICY.model_copy(update={"attempts": 2}),
        start_after=first,
    )
    assert [a.status for a in budget] == [AttemptStatus.MODEL_ERROR] + [AttemptStatus.EMPTY_OUTPUT] * 2


def test_a_sandbox_failure_is_infrastructure_too(box):
    from mathcodebench.sandbox import SandboxError

    class Broken:
        name, layers, missing = "broken", [], []

        def run(self, code, limits):
            raise SandboxError("fork server died twice")

        def close(self):
            pass

    attempts = solve(PROBLEM, ScriptedModel({"6 times 7": [fenced("print(42)")]}), Broken(), POLICY)
    assert [(a.status, a.stderr) for a in attempts] == [(AttemptStatus.SANDBOX_ERROR, "fork server died twice")]
    assert attempts[0].status.infrastructure and attempts[0].feedback is None
