"""The real embedded model (Qwen2.5-Coder-0.5B via llama.cpp) on 2 sample problems, greedy.

It checks the mechanics (code generated, executed, graded, stored), not whether the model was right.
"""

import hashlib

import pytest

from conftest import BROKEN, ForcedFirst, check_regenerated_from_failure, fenced, run_to_end, single
from mathcodebench.data import Problem
from mathcodebench.models import GenerationParams, Message, create_model
from mathcodebench.models.weights import QWEN_CODER_05B, ensure_weights
from mathcodebench.report import summarize
from mathcodebench.sandbox import create_sandbox
from mathcodebench.settings import Settings
from mathcodebench.solve import AttemptStatus, SolvePolicy, load_prompt, solve
from mathcodebench.solve.prompts import METHOD_PROMPTS

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model():
    return create_model("embedded")


def test_weights_are_the_pinned_file():
    path = ensure_weights()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    assert path.stat().st_size == QWEN_CODER_05B.size and digest.hexdigest() == QWEN_CODER_05B.sha256


def test_greedy_generation_is_deterministic(model):
    messages = [Message(role="user", content="Write a Python program that prints 2 + 3.")]
    params = GenerationParams(max_tokens=40)
    first, second = model.generate(messages, params), model.generate(messages, params)
    assert first.text == second.text and first.completion_tokens > 0
    assert first.prompt_tokens > 0 and first.finish_reason in {"stop", "length"}


def test_a_generation_does_not_depend_on_what_the_model_computed_before(model):
    """The KV cache is not carried across conversations, so results do not depend on the order of calls."""
    messages = [Message(role="user", content="Write a Python program that prints 2 + 3.")]
    params = GenerationParams(max_tokens=40, temperature=0.7, seed=3)
    first = model.generate(messages, params).text
    model.generate(
        [
            Message(role="system", content="You are a strict grader."),
            Message(role="user", content="Is 5 equal to 2 + 3? Answer with JSON."),
        ],
        params,
    )
    model.complete(model.render(messages) + "```python\nprint(", params, avoid="2")
    assert model.generate(messages, params).text == first


def test_real_model_run_generates_executes_and_grades(model, db):
    data = run_to_end(Settings(limit=2, attempts=2, max_tokens=400), db, model)
    attempts = single(data.attempts)
    grades = single(data.final)
    assert set(attempts) == set(grades) == {"sample/algebra/1", "sample/algebra/2"}
    for tried in attempts.values():
        first = tried[0]
        assert first.response and first.completion_tokens > 0 and first.gen_s > 0
        assert first.code is not None, first.response  # the model wrote a program
        assert first.status != AttemptStatus.NO_CODE
        assert first.exec_s > 0 or first.status == AttemptStatus.SYNTAX_ERROR  # and it was executed
    for pid, grade in grades.items():
        answered = [a for a in attempts[pid] if a.status == AttemptStatus.ANSWERED]
        assert grade.status in {"ok", "no_answer"}
        assert (grade.status == "ok") == bool(answered)


def test_embedded_model_as_judge(model):
    """The judge path on the real model: a verdict is parsed (or the failure recorded), never a crash."""
    from mathcodebench.grading import LLMJudge

    judge = LLMJudge(model)
    grade, reply = judge.ask("0.5\n", r"\frac{1}{2}", "What is one half of one?")
    assert reply
    assert grade.status in {"ok", "unparseable"}
    if grade.status == "ok":
        assert grade.score in {1, 2, 3, 4, 5} and grade.correct == (grade.score >= 4)


def test_tbt_regenerates_a_forced_failure_from_its_failing_line_at_token_level(model):
    problem = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
    forced = ForcedFirst(model, fenced(BROKEN))
    policy = SolvePolicy(attempts=2, regeneration="tbt", params=GenerationParams(max_tokens=200))
    sandbox = create_sandbox("default")
    try:
        attempts = solve(problem, forced, sandbox, policy)
    finally:
        sandbox.close()
    assert attempts[0].status == AttemptStatus.RUNTIME_ERROR and len(attempts) == 2
    check_regenerated_from_failure(attempts)
    offset = attempts[0].response.index("print(a * 7 // b)")
    # The token the failed line began with is excluded at the failure point.
    assert not attempts[1].response[offset:].startswith("print(a * 7 // b)")


def test_generation_ends_at_a_stop_string_which_the_text_leaves_out(model):
    """The same greedy reply with and without stop strings: with them it is the reply up to the first one."""
    messages = [Message(role="user", content="Write a Python program in a ```python block that prints 2 + 3.")]
    whole = model.generate(messages, GenerationParams(max_tokens=120)).text
    fence = whole.index("```", whole.index("```python") + 3)  # the block's closing fence
    stopped = model.generate(messages, GenerationParams(max_tokens=120, stop=["```\n", "```output"]))
    assert stopped.text == whole[:fence] and stopped.finish_reason == "stop"
    assert stopped.completion_tokens < len(model.engine.tokenize(whole, bos=False, special=False))


def test_tool_integrated_reasoning_on_the_embedded_model_runs_its_blocks(model):
    """A real tir attempt: every turn that ended at a closed python block had that block executed in the session."""
    problem = Problem(id="t/2", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")
    policy = SolvePolicy(
        attempts=1, method="tir", prompt=load_prompt(METHOD_PROMPTS["tir"]), params=GenerationParams(max_tokens=300)
    )
    sandbox = create_sandbox("default")
    try:
        (attempt,) = solve(problem, model, sandbox, policy)
    finally:
        sandbox.close()
    ran = [turn for turn in attempt.turns if turn.code is not None]
    assert ran, attempt.response
    for turn in ran:
        assert turn.text.endswith("```\n") and turn.status is not None and turn.exec_s > 0


def test_repeated_samples_on_the_embedded_model_are_sampled_apart_and_scored_at_k(model, db):
    """Two samples of one problem at temperature 0.7: each its own seed, both stored and graded, pass@k reported."""
    settings = Settings(limit=1, attempts=1, samples=2, max_tokens=200, sample_temperature=0.7)
    data = run_to_end(settings, db, model)
    units = sorted(data.attempts)
    assert [u[1] for u in units] == [1, 2]
    first, second = (data.attempts[u][0] for u in units)
    assert first.params.seed != second.params.seed and first.params.temperature == 0.7
    assert first.response and second.response
    summary = summarize(data)
    assert [a.k for a in summary.pass_at] == [1, 2] and len(summary.maj_at) == 2


def test_a_prompt_file_reaches_the_embedded_model_and_is_stored_with_the_run(model, db, tmp_path):
    """A user's template changes what the real model is given (its prompt token count) and is kept with the run."""
    path = tmp_path / "terse.j2"
    path.write_text(
        "{% block system %}Answer with a Python program in a ```python block.{% endblock %}\n"
        "{% block user %}{{ problem }}{% endblock %}\n"
        "{% block retry %}{{ problem }}\n{{ feedback }}{% endblock %}\n"
    )
    default = run_to_end(Settings(limit=1, attempts=1, max_tokens=60), db, model)
    mine = run_to_end(Settings(limit=1, attempts=1, max_tokens=60, prompt=str(path)), tmp_path / "mine.db", model)
    (tried_default,), (tried_mine,) = default.attempts.values(), mine.attempts.values()
    assert tried_mine[0].prompt_tokens < tried_default[0].prompt_tokens  # the terse system prompt was used
    assert mine.record.recorded.prompt.text == path.read_text()
    assert mine.record.recorded.prompt_version.startswith("terse@")
