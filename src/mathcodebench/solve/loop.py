"""The attempt loop: generate, extract, check, execute; on failure retry with feedback, up to N attempts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from ..data import Problem
from ..models import ChatModel, Completion, GenerationParams, Message, ModelError
from ..sandbox import Limits, Sandbox, SandboxError
from .attempt import Attempt, AttemptStatus, feedback_for, precheck_syntax, runtime_denial, status_of
from .extract import extract_code
from .prompts import DEFAULT, Prompt
from .safety import scan
from .tbt import Regenerated, regenerate
from .tir import solve_tir


class SolvePolicy(BaseModel):
    attempts: int = 10  # the paper's budget
    feedback: Literal["error", "none"] = "error"
    params: GenerationParams = GenerationParams()
    # Attempt 1 uses params.temperature (greedy by default); retries sample, or a greedy model would
    # repeat a failed program word for word. Seeded per attempt, so runs stay reproducible.
    retry_temperature: float = 0.7
    unsafe: Literal["report", "block"] = "report"
    # full: each retry is a whole new response; tbt: a retry keeps the failed response up to its failure
    # point and regenerates from there (solve/tbt.py). Attempt 1 is the same under both.
    regeneration: Literal["full", "tbt"] = "full"
    limits: Limits = Limits()
    # Repeated samples: each problem is solved `samples` times, each with its own attempt loop and seeds. With
    # more than one, attempt 1 samples at `sample_temperature` too (greedy samples would be copies), so the
    # samples are independent draws, as pass@k assumes.
    samples: int = 1
    sample_temperature: float = 0.7
    prompt: Prompt = DEFAULT  # what the model is told (solve/prompts.py)
    # pot: one program whose output is the answer (the paper's); tir: reasoning with code blocks run as they
    # are written, outputs fed back, up to `tool_calls` executions, the answer boxed (solve/tir.py).
    method: Literal["pot", "tir"] = "pot"
    tool_calls: int = 4

    def params_for(self, sample: int, index: int) -> GenerationParams:
        """Decoding of attempt `index` of `sample`: seeds never repeat within a run (seed + (sample - 1) x
        attempts + index - 1), the first attempt is greedy unless there are several samples."""
        first = self.params.temperature if self.samples == 1 else self.sample_temperature
        return self.params.model_copy(
            update={
                "seed": self.params.seed + (sample - 1) * self.attempts + index - 1,
                "temperature": first if index == 1 else self.retry_temperature,
            }
        )


def solve(
    problem: Problem,
    model: ChatModel,
    sandbox: Sandbox,
    policy: SolvePolicy,
    on_attempt: Callable[[Attempt], None] = lambda a: None,
    start_after: list[Attempt] | None = None,
    sample: int = 1,
) -> list[Attempt]:
    """Run the attempts of one sample until one is answered (exit 0, non-empty output) or the budget is spent.

    A wrong answer is not a failure: only failures to produce an answer are retried. `start_after`
    holds attempts already stored for this problem, so an interrupted problem continues where it stopped.
    An infrastructure failure (model backend or sandbox down) ends the call at once, leaving the problem
    unfinished: it does not count against the budget, and the attempt is made again, with the same seed and
    feedback, when the run is resumed.
    """
    attempts = list(start_after or [])
    while True:
        counted = counted_attempts(attempts)
        if len(counted) >= policy.attempts or (counted and counted[-1].status == AttemptStatus.ANSWERED):
            return attempts
        attempt = _one_attempt(
            problem,
            model,
            sandbox,
            policy,
            sample,
            len(attempts) + 1,
            len(counted) + 1,
            counted[-1] if counted else None,
        )
        attempts.append(attempt)
        on_attempt(attempt)
        if attempt.status.infrastructure:
            return attempts


def counted_attempts(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts that count against the budget: all but the infrastructure failures."""
    return [a for a in attempts if not a.status.infrastructure]


def _one_attempt(
    problem: Problem,
    model: ChatModel,
    sandbox: Sandbox,
    policy: SolvePolicy,
    sample: int,
    number: int,
    index: int,
    previous: Attempt | None,
) -> Attempt:
    """Attempt `index` of the budget (stored as row `number`): its seed and temperature follow from `index`;
    the method (pot or tir) turns the messages into a finished attempt."""
    params = policy.params_for(sample, index)
    if previous is not None and previous.feedback:
        messages = policy.prompt.retry(problem, previous.feedback)
    else:
        messages = policy.prompt.first(problem)
    base = Attempt(problem_id=problem.id, sample=sample, number=number, params=params, status=AttemptStatus.NO_CODE)
    started = time.perf_counter()
    try:
        attempt = METHODS[policy.method](base, model, sandbox, policy, messages, previous)
    except ModelError as exc:
        return base.model_copy(
            update={
                "status": AttemptStatus.MODEL_ERROR,
                "error_type": "ModelError",
                "stderr": str(exc),
                "gen_s": time.perf_counter() - started,
            }
        )
    except SandboxError as exc:
        return base.model_copy(
            update={
                "status": AttemptStatus.SANDBOX_ERROR,
                "error_type": "SandboxError",
                "stderr": str(exc),
                "gen_s": time.perf_counter() - started,
            }
        )
    if attempt.status != AttemptStatus.ANSWERED and policy.feedback == "error":
        attempt.feedback = feedback_for(attempt.status, attempt, policy.limits)
    return attempt


def _program_of_thought(
    attempt: Attempt,
    model: ChatModel,
    sandbox: Sandbox,
    policy: SolvePolicy,
    messages: list[Message],
    previous: Attempt | None,
) -> Attempt:
    """pot, the paper's method: one reply holding a program, which is run; what it prints is the answer."""
    completion, regenerated = _respond(model, messages, attempt.params, policy, previous)
    attempt = attempt.model_copy(
        update={
            "response": completion.text,
            "gen_s": completion.latency_s,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "finish_reason": completion.finish_reason,
        }
    )
    if regenerated is not None:
        attempt.tokens_reused, attempt.regeneration = regenerated.tokens_reused, regenerated.points
    extracted = extract_code(completion.text)
    if extracted is None:
        return attempt
    attempt.code, attempt.code_start, attempt.extraction = extracted.code, extracted.start, extracted.method
    attempt.unsafe = scan(extracted.code)
    if bad := precheck_syntax(extracted.code):
        attempt.status, attempt.error_type = AttemptStatus.SYNTAX_ERROR, bad[0]
        attempt.stderr = bad[1]
    elif attempt.unsafe and policy.unsafe == "block":
        attempt.status = AttemptStatus.UNSAFE_BLOCKED
    else:
        execution = sandbox.run(extracted.code, policy.limits)
        attempt.status, attempt.error_type = status_of(execution)
        attempt.stdout, attempt.stderr = execution.stdout, execution.stderr
        attempt.exit_code, attempt.exec_s = execution.exit_code, execution.wall_s
        attempt.denied = runtime_denial(execution.stderr)
    return attempt


def _tool_integrated(
    attempt: Attempt,
    model: ChatModel,
    sandbox: Sandbox,
    policy: SolvePolicy,
    messages: list[Message],
    previous: Attempt | None,
) -> Attempt:
    """tir: reasoning with code blocks run as they are written, outputs fed back, a boxed answer (solve/tir.py)."""
    solution = solve_tir(model, sandbox, messages, attempt.params, policy.limits, policy.tool_calls)
    code = "\n".join(t.code for t in solution.turns if t.code) or None
    last_output = next((t.output for t in reversed(solution.turns) if t.output is not None), "")
    return attempt.model_copy(
        update={
            "status": solution.status,
            "response": solution.text,
            "answer": solution.answer,
            "turns": solution.turns,
            "code": code,
            "unsafe": scan(code) if code else [],
            "stdout": last_output,
            "stderr": solution.stderr,
            "error_type": solution.error_type,
            "denied": solution.denied,
            "gen_s": solution.gen_s,
            "exec_s": solution.exec_s,
            "prompt_tokens": solution.prompt_tokens,
            "completion_tokens": solution.completion_tokens,
            "finish_reason": solution.finish_reason,
        }
    )


Method = Callable[[Attempt, ChatModel, Sandbox, SolvePolicy, list[Message], Attempt | None], Attempt]
METHODS: dict[str, Method] = {"pot": _program_of_thought, "tir": _tool_integrated}


def _respond(
    model: ChatModel, messages: list[Message], params: GenerationParams, policy: SolvePolicy, previous: Attempt | None
) -> tuple[Completion, Regenerated | None]:
    """A whole new response, or under tbt the previous one regenerated from its failure point where it has one."""
    if policy.regeneration == "tbt" and previous is not None:
        regenerated = regenerate(model, messages, previous, params)  # type: ignore[arg-type]  # checked at start
        if regenerated is not None:
            return regenerated.completion, regenerated
    return model.generate(messages, params), None
