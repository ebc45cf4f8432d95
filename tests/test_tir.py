"""Tool-integrated reasoning (--method tir) with scripted models: generation stops at a closing fence, the block
runs in one sandbox session, its output is appended and the model goes on; the boxed answer is graded; budgets
and failures have their statuses and feedback; raw-continuation and chat-only models alike. The sandbox session
here is real (the default mode); the models are scripted."""

import threading

import pytest

from conftest import ScriptedModel, run_to_end
from mathcodebench.data import Problem
from mathcodebench.models import Capabilities, Completion, GenerationParams, Message
from mathcodebench.report import summarize
from mathcodebench.sandbox import Limits, create_sandbox
from mathcodebench.settings import Settings
from mathcodebench.solve import AttemptStatus, SolvePolicy, load_prompt, solve

PROBLEM = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
POLICY = SolvePolicy(
    attempts=2,
    method="tir",
    prompt=load_prompt("tir-v1"),
    limits=Limits(timeout_s=3),
    params=GenerationParams(max_tokens=400),
)


class Stepper(ScriptedModel):
    """A chat model whose replies stop where a real server would stop them: at the first stop string, which
    is then left out (as llama.cpp, OpenAI and Ollama do). Each call returns the next scripted reply."""

    def __init__(self, replies: list[str], raw: bool = False) -> None:
        super().__init__({"": replies})
        self.raw = raw
        self.capabilities = Capabilities(prefix=raw)
        self.prompts: list[str] = []

    def _cut(self, text: str, params: GenerationParams) -> Completion:
        cut = min((text.find(s) for s in params.stop if s in text), default=-1)
        shown = text if cut < 0 else text[:cut]
        return Completion(
            text=shown,
            finish_reason="stop",
            prompt_tokens=5,
            completion_tokens=len(shown) // 4 + 1,
            latency_s=0.001,
            model=self.spec,
            params=params,
        )

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return self._cut(super().generate(messages, params).text, params)

    def render(self, messages: list[Message]) -> str:
        return "|".join(m.content for m in messages) + "|ASSISTANT|"

    def count_tokens(self, text: str) -> int | None:
        return len(text) // 4

    def complete(self, prompt: str, params: GenerationParams, avoid: str | None = None) -> Completion:
        self.prompts.append(prompt)
        index = len(self.prompts) - 1
        reply = self.script[""][min(index, len(self.script[""]) - 1)]
        return self._cut(reply, params)


@pytest.fixture(scope="module")
def box():
    sandbox = create_sandbox("default", workers=1)
    yield sandbox
    sandbox.close()


STEP1 = "Let me compute.\n```python\nx = 6 * 7\nprint(x)\n```\n"
STEP2 = "The product is 42, so the answer is $\\boxed{42}$."


@pytest.mark.parametrize("raw", [True, False])
def test_a_block_runs_its_output_is_appended_and_the_model_goes_on(box, raw):
    model = Stepper([STEP1 + "```output\n(invented)\n```", STEP2], raw=raw)
    attempts = solve(PROBLEM, model, box, POLICY)
    (a,) = attempts
    assert a.status == AttemptStatus.ANSWERED and a.answer == "42" and a.graded_output() == "42"
    assert [t.code for t in a.turns] == ["x = 6 * 7\nprint(x)\n", None]
    assert a.turns[0].output == "42" and a.turns[0].status == "ok"
    assert a.response == STEP1 + "```output\n42\n```\n" + STEP2  # the model's own output block never counts
    if raw:  # its own reply continued: the second prompt is the first plus everything so far
        assert model.prompts[1].endswith("|ASSISTANT|" + STEP1 + "```output\n42\n```\n")
    else:  # chat: the code ended its turn, the output came as the next user turn
        second = model.seen[1]
        assert [m.role for m in second[-2:]] == ["assistant", "user"]
        assert second[-2].content == STEP1 and second[-1].content.startswith("```output\n42\n```")


def test_state_persists_across_the_blocks_of_one_solution(box):
    model = Stepper(
        ["```python\nimport sympy\nk = sympy.Integer(6)\n```\n", "```python\nprint(k * 7)\n```\n", "So $\\boxed{42}$."],
        raw=True,
    )
    (a,) = solve(PROBLEM, model, box, POLICY)
    assert a.status == AttemptStatus.ANSWERED and [t.output for t in a.turns[:2]] == ["", "42"]


def test_an_error_is_shown_to_the_model_which_can_repair_it(box):
    model = Stepper(["```python\nprint(y)\n```\n", "```python\ny = 42\nprint(y)\n```\n", "$\\boxed{42}$"], raw=True)
    (a,) = solve(PROBLEM, model, box, POLICY)
    assert a.status == AttemptStatus.ANSWERED and a.turns[0].status == "error"
    assert "NameError" in a.turns[0].output and a.turns[1].output == "42"


@pytest.mark.parametrize(
    "replies,status,feedback",
    [
        (["I think it is 42."], AttemptStatus.NO_BOXED_ANSWER, "without a final answer"),
        (["```python\nprint(1)\n```\n"] * 6, AttemptStatus.TOOL_BUDGET, "more than the allowed number"),
        (["```python\nimport time\ntime.sleep(30)\n```\n"], AttemptStatus.TIMEOUT, "did not finish"),
        (["```python\nimport socket\nsocket.socket()\n```\n"], AttemptStatus.RUNTIME_ERROR, "PermissionError"),
    ],
)
def test_failures_have_their_status_and_are_retried_with_feedback(box, replies, status, feedback):
    model = Stepper(replies, raw=True)
    attempts = solve(PROBLEM, model, box, POLICY)
    assert [a.status for a in attempts] == [status] * 2
    assert feedback in attempts[0].feedback
    if status == AttemptStatus.TOOL_BUDGET:
        assert sum(t.code is not None for t in attempts[0].turns) == 5  # the fifth asked for is not run
        assert [t.status for t in attempts[0].turns if t.status] == ["ok"] * 4
    if status == AttemptStatus.RUNTIME_ERROR:
        assert attempts[0].denied and attempts[0].error_type == "PermissionError"


def test_the_token_budget_ends_a_solution(box):
    policy = POLICY.model_copy(update={"params": GenerationParams(max_tokens=20)})
    model = Stepper(["```python\nprint(1)\n```\n" + "x" * 200], raw=True)
    attempts = solve(PROBLEM, model, box, policy)
    assert attempts[0].status == AttemptStatus.TOKEN_BUDGET and "cut off" in attempts[0].feedback


def test_a_run_with_tir_grades_the_boxed_answer_and_reports_tool_use(tmp_path):
    settings = Settings(model="scripted", method="tir", limit=1, attempts=2, max_tokens=400)
    model = Stepper(["```python\nprint(3 * 5 + 7)\n```\n", "So the value is $\\boxed{22}$."])
    data = run_to_end(settings, tmp_path / "tir.sqlite", model)
    summary = summarize(data)
    assert summary.overall.correct == 1 and summary.tool_calls == 1 and summary.label == "scripted (tir)"
    assert data.record.recorded.prompt_version == "tir-v1"
    (attempt,) = data.attempts[("sample/algebra/1", 1)]
    assert attempt.turns[0].output == "22" and attempt.answer == "22"
    assert data.final[("sample/algebra/1", 1)].answer == "22"  # the boxed answer is what was graded


class Together(Stepper):
    """Answers only once `n` solutions are generating at the same time (a barrier), so a run in which fewer than
    `n` solutions can be in flight at once fails instead of answering."""

    def __init__(self, n: int) -> None:
        super().__init__(["The value is $\\boxed{22}$."])
        self.barrier = threading.Barrier(n, timeout=30)
        self.broken = False

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            self.broken = True
        return super().generate(messages, params)


def test_tir_solutions_in_flight_each_have_a_sandbox_server_while_the_model_generates(tmp_path):
    """A solution holds a fork server for its whole length; with one server per core (2 here) only 2 of 4
    solutions in flight could be generating at once."""
    model = Together(4)
    settings = Settings(model="scripted", method="tir", limit=4, attempts=1, concurrency=4)
    data = run_to_end(settings, tmp_path / "tir.sqlite", model)
    assert not model.broken, "fewer than 4 solutions were generating at once"
    assert len(data.final) == 4 and all(a.status == AttemptStatus.ANSWERED for t in data.attempts.values() for a in t)
