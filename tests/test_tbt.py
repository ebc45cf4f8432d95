"""Token-by-token regeneration (solve/tbt.py) with a scripted prefix model: where regeneration starts, what is
kept, how invalid lines are cut and regenerated, and when a whole new response is used instead. The real
model's token-level continuation is tested in test_embedded.py and through llama.cpp's server in
test_backends.py."""

import pytest

from conftest import ScriptedModel, fenced
from mathcodebench import api
from mathcodebench.data import Problem
from mathcodebench.errors import UserError
from mathcodebench.models import Capabilities, Completion, GenerationParams, Message
from mathcodebench.models.openai_compat import OpenAICompatibleModel
from mathcodebench.sandbox import create_sandbox
from mathcodebench.settings import Settings
from mathcodebench.solve import Attempt, AttemptStatus, SolvePolicy, require_prefix, solve
from mathcodebench.solve.tbt import failure_point, first_invalid_line, regenerate

PROBLEM = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 * 7?", answer="42")
BROKEN = "a = 6\nb = 0\nprint(a * 7 // b)"  # ZeroDivisionError on line 3


class ScriptedPrefixModel(ScriptedModel):
    """Scripted whole responses for attempt 1, scripted continuations for raw-prefix calls."""

    capabilities = Capabilities(prefix=True, token_exclusion=True, seed=True)

    def __init__(self, first: str, continuations: list[str]) -> None:
        super().__init__({"": [first]})
        self.continuations = continuations
        self.prefix_calls: list[tuple[str, str | None, GenerationParams]] = []

    def render(self, messages: list[Message]) -> str:
        return "PROMPT|" + messages[-1].content + "|ASSISTANT|"

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        text = self.continuations[len(self.prefix_calls)]
        self.prefix_calls.append((prompt, avoid, params))
        return Completion(
            text=text,
            finish_reason="stop",
            prompt_tokens=len(prompt) // 4,
            completion_tokens=len(text) // 4,
            latency_s=0.01,
            model=self.spec,
            params=params,
        )

    def count_tokens(self, text: str) -> int | None:
        return len(text) // 4


@pytest.fixture(scope="module")
def box():
    sandbox = create_sandbox("default")
    yield sandbox
    sandbox.close()


def failed(
    code: str,
    status: AttemptStatus,
    stderr: str = "",
    error_type: str | None = None,
    response: str | None = None,
    finish_reason: str = "stop",
) -> Attempt:
    response = response if response is not None else fenced(code)
    start = response.find(code.strip())
    return Attempt(
        problem_id="t/1",
        number=1,
        status=status,
        response=response,
        code=code.strip() + "\n",
        code_start=start,
        stderr=stderr,
        error_type=error_type,
        finish_reason=finish_reason,
        params=GenerationParams(),
    )


def test_a_runtime_error_restarts_at_the_failing_line_after_its_indentation():
    code = "total = 0\nfor i in range(3):\n    total += i / 0\nprint(total)"
    attempt = failed(
        code,
        AttemptStatus.RUNTIME_ERROR,
        'Traceback...\n  File "main.py", line 3, in <module>\nZeroDivisionError: division by zero',
        "ZeroDivisionError",
    )
    point = failure_point(attempt)
    assert attempt.response[: point.offset].endswith("for i in range(3):\n    ")
    assert point.avoid == "total += i / 0"


def test_an_indentation_error_restarts_at_the_start_of_the_line():
    code = "x = 1\n  y = 2\nprint(x)"
    attempt = failed(
        code,
        AttemptStatus.SYNTAX_ERROR,
        '  File "main.py", line 2\nIndentationError: unexpected indent',
        "IndentationError",
    )
    point = failure_point(attempt)
    assert attempt.response[: point.offset].endswith("x = 1\n") and point.avoid == "  y = 2"


@pytest.mark.parametrize(
    "status", [AttemptStatus.EMPTY_OUTPUT, AttemptStatus.TIMEOUT, AttemptStatus.MEMORY, AttemptStatus.OUTPUT_LIMIT]
)
def test_failures_without_a_line_restart_at_the_end_of_the_program(status):
    attempt = failed("x = 6 * 7", status)
    point = failure_point(attempt)
    assert attempt.response[: point.offset].endswith("```python\nx = 6 * 7\n") and point.avoid == "```"


def test_no_code_and_cut_off_replies_get_a_whole_new_response():
    assert (
        failure_point(
            Attempt(
                problem_id="t/1", number=1, status=AttemptStatus.NO_CODE, response="no idea", params=GenerationParams()
            )
        )
        is None
    )
    cut = failed(
        "x = (1,",
        AttemptStatus.SYNTAX_ERROR,
        '  File "main.py", line 1\nSyntaxError: never closed',
        "SyntaxError",
        finish_reason="length",
    )
    assert failure_point(cut) is None


@pytest.mark.parametrize(
    "text, bad_line",
    [
        ("```python\nx = 1\ny = (2,\n     3)\nprint(x +)\n```", "print(x +)"),  # unfinished is fine, invalid is not
        ("```python\nfor i in range(3):\n    pass\nelse x:\n", "else x:"),
        ("```python\nx = 1\n    y = 2\n", "    y = 2"),  # an indentation fault: the whole line is regenerated
        ("```python\ns = '''\nnot code (\n'''\nprint(s)\n```", None),
        ("```python\nif x:\n", None),
        ("```python\nprint(1)\n```\nThen some prose that is not code: (((", None),
    ],
)
def test_first_invalid_line_flags_wrong_lines_not_unfinished_ones(text, bad_line):
    point = first_invalid_line(text, len("```python\n"))
    assert (point and point.avoid.rstrip("\n").lstrip() == bad_line.strip()) if bad_line else point is None
    if bad_line:
        whole = bad_line.startswith(" ")
        assert text[point.offset :].startswith(bad_line if whole else bad_line.strip())


def test_lines_before_the_restart_point_are_not_checked_again():
    text = "```python\nprint(1))\nx = 2\n"
    assert first_invalid_line(text, text.index("x = 2")) is None
    assert first_invalid_line(text, len("```python\n")) is not None


def test_regenerate_keeps_the_prefix_byte_for_byte_and_cuts_an_invalid_line():
    previous = failed(
        BROKEN,
        AttemptStatus.RUNTIME_ERROR,
        '  File "main.py", line 3, in <module>\nZeroDivisionError: integer division or modulo by zero',
        "ZeroDivisionError",
    )
    kept = previous.response[: previous.response.index("print(a * 7 // b)")]
    model = ScriptedPrefixModel("", ["print(a *)\nnever seen\n```", "print(a * 7)\n```\n"])
    messages = [Message(role="user", content="retry")]
    result = regenerate(model, messages, previous, GenerationParams(max_tokens=200, seed=5))
    assert result.completion.text == kept + "print(a * 7)\n```\n"
    assert result.tokens_reused == len(kept) // 4 > 0
    assert result.points == [len(kept), len(kept)]
    (first_prompt, first_avoid, first_params), (second_prompt, second_avoid, second_params) = model.prefix_calls
    assert first_prompt == "PROMPT|retry|ASSISTANT|" + kept and first_avoid == "print(a * 7 // b)"
    assert second_prompt == first_prompt and second_avoid == "print(a *)"  # rolled back to the invalid line
    assert (first_params.seed, second_params.seed) == (5, 6)
    assert first_params.max_tokens == 200 - len(kept) // 4
    assert result.completion.completion_tokens == sum(len(c) // 4 for c in model.continuations)


def test_solve_with_tbt_records_reuse_and_repairs_the_program(box):
    model = ScriptedPrefixModel(fenced(BROKEN), ["print(a * 7)\n```\n"])
    attempts = solve(PROBLEM, model, box, SolvePolicy(attempts=3, regeneration="tbt"))
    assert [a.status for a in attempts] == [AttemptStatus.RUNTIME_ERROR, AttemptStatus.ANSWERED]
    first, second = attempts
    offset = first.response.index("print(a * 7 // b)")
    assert second.response[:offset] == first.response[:offset] and second.stdout.strip() == "42"
    assert second.tokens_reused == offset // 4 and second.regeneration == [offset]
    assert "ZeroDivisionError" in model.prefix_calls[0][0]  # the feedback is in the prompt that is continued
    assert first.tokens_reused == 0 and first.regeneration == []


def test_solve_with_tbt_falls_back_to_a_new_response_when_there_is_no_program(box):
    model = ScriptedPrefixModel("I cannot write code.", [])
    model.script = {"": ["I cannot write code.", fenced("print(42)")]}
    attempts = solve(PROBLEM, model, box, SolvePolicy(attempts=2, regeneration="tbt"))
    assert [a.status for a in attempts] == [AttemptStatus.NO_CODE, AttemptStatus.ANSWERED]
    assert model.prefix_calls == [] and attempts[1].regeneration == []


def test_a_model_without_prefix_continuation_stops_a_tbt_run_before_it_starts(db, monkeypatch):
    plain = ScriptedModel({"": [fenced("print(1)")]})
    plain.capabilities = Capabilities()
    with pytest.raises(UserError, match="cannot continue a response from a prefix"):
        api.start(Settings(limit=1, regeneration="tbt"), db, model=plain)
    assert not db.exists()
    server = OpenAICompatibleModel("openai-compatible/m", "http://127.0.0.1:9/v1")
    with pytest.raises(UserError, match="--chat-template"):
        require_prefix(server, [Message(role="user", content="x")])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(UserError, match="use --regeneration full"):
        require_prefix(OpenAICompatibleModel("openai/gpt-4o-mini"), [Message(role="user", content="x")])


def test_a_regenerated_response_failing_again_in_its_kept_part_gets_a_whole_new_response():
    again = failed(
        BROKEN,
        AttemptStatus.RUNTIME_ERROR,
        '  File "main.py", line 3, in <module>\nZeroDivisionError: division by zero',
        "ZeroDivisionError",
    )
    offset = again.response.index("print(a * 7 // b)")
    model = ScriptedPrefixModel("", ["print(a * 7)\n```\n"])
    messages = [Message(role="user", content="retry")]
    stuck = again.model_copy(update={"regeneration": [offset]})  # it was regenerated from this very line
    assert regenerate(model, messages, stuck, GenerationParams()) is None and model.prefix_calls == []
    later = again.model_copy(update={"regeneration": [offset - 6]})  # the new failure is past the restart point
    assert regenerate(model, messages, later, GenerationParams()) is not None
