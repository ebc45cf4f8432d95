"""Tool-integrated reasoning (`--method tir`), the multi-turn method of Qwen2.5-Math and NeMo-Skills: the model
reasons in text and writes ```python blocks; each block runs in the sandbox as soon as it is closed (generation
stops at the fence), what it printed is appended in an ```output block, and the model goes on, up to
`tool_calls` executions and the attempt's token budget. The answer is the last \\boxed{} of the text.

Every block of one solution runs in one sandbox child held for that solution, so later blocks see earlier
variables. A model that can continue raw text (the embedded models; servers given a chat template) continues
its own reply after each output block; a chat-only model gets each output as the next user turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..data.boxed import last_boxed
from ..errors import UserError
from ..models import ChatModel, Completion, GenerationParams, Message, PrefixModel
from ..sandbox import ExecStatus, Execution, Limits, Sandbox
from .attempt import AttemptStatus, exception_type, runtime_denial
from .turns import Turn

FENCE = "```"
STOPS = ["```\n", "```output"]  # a closing fence; or the model starting to write an output block itself
MAX_OUTPUT_CHARS = 1200  # what a block's output may put in front of the model
MIN_TOKENS = 16


@dataclass
class Solution:
    """What a tir attempt produced."""

    status: AttemptStatus
    text: str = ""  # the whole transcript: reasoning, code, outputs
    answer: str | None = None  # the last \\boxed{} content
    turns: list[Turn] = field(default_factory=list)
    error_type: str | None = None
    stderr: str = ""  # the failing block's error output, for feedback
    denied: str | None = None
    prompt_tokens: int = 0
    finish_reason: str | None = None

    @property
    def completion_tokens(self) -> int:
        return sum(t.completion_tokens for t in self.turns)

    @property
    def gen_s(self) -> float:
        return sum(t.gen_s for t in self.turns)

    @property
    def exec_s(self) -> float:
        return sum(t.exec_s for t in self.turns)


_ENDED = {
    ExecStatus.TIMEOUT: AttemptStatus.TIMEOUT,
    ExecStatus.MEMORY: AttemptStatus.MEMORY,
    ExecStatus.OUTPUT_LIMIT: AttemptStatus.OUTPUT_LIMIT,
    ExecStatus.KILLED: AttemptStatus.RUNTIME_ERROR,
    ExecStatus.CRASH: AttemptStatus.RUNTIME_ERROR,
}


class _Conversation:
    """How the model goes on after an output block: its own reply continued (raw text), or a new turn."""

    def __init__(self, model: ChatModel, messages: list[Message]) -> None:
        self.model, self.messages = model, list(messages)
        self.prompt: str | None = None
        if isinstance(model, PrefixModel) and model.capabilities.prefix:
            try:
                self.prompt = model.render(messages)
            except UserError:  # a server without a chat template: chat turns instead
                self.prompt = None

    def generate(self, text: str, params: GenerationParams) -> Completion:
        if self.prompt is not None:
            assert isinstance(self.model, PrefixModel)
            return self.model.complete(self.prompt + text, params)
        return self.model.generate(self.messages, params)

    def shown(self, generated: str, reply: str) -> None:
        """After a fence: in chat mode the model's turn ends there and `reply` (the output) is the next turn;
        in raw mode the text itself goes on."""
        if self.prompt is None:
            self.messages += [Message(role="assistant", content=generated), Message(role="user", content=reply)]


def solve_tir(
    model: ChatModel,
    sandbox: Sandbox,
    messages: list[Message],
    params: GenerationParams,
    limits: Limits,
    tool_calls: int,
) -> Solution:
    """One attempt of tool-integrated reasoning. Raises ModelError / SandboxError (infrastructure) as they come."""
    conversation = _Conversation(model, messages)
    solution = Solution(status=AttemptStatus.NO_CODE)
    session = sandbox.session(limits)
    try:
        while True:
            budget = params.max_tokens - solution.completion_tokens
            if budget < MIN_TOKENS:
                solution.status, solution.finish_reason = AttemptStatus.TOKEN_BUDGET, "length"
                return _finish(solution)
            started = time.perf_counter()
            completion = conversation.generate(
                solution.text,
                params.model_copy(
                    update={"max_tokens": budget, "stop": STOPS, "seed": params.seed + len(solution.turns)}
                ),
            )
            turn = Turn(
                text=completion.text,
                gen_s=time.perf_counter() - started,
                completion_tokens=completion.completion_tokens,
            )
            solution.turns.append(turn)
            solution.prompt_tokens = solution.prompt_tokens or completion.prompt_tokens
            solution.finish_reason = completion.finish_reason
            so_far = solution.text + completion.text
            if so_far.count(FENCE) % 2 == 0 or completion.finish_reason == "length":
                solution.text = so_far  # the reply ended (or ran out of tokens) outside any code block
                if completion.finish_reason == "length":
                    solution.status = AttemptStatus.TOKEN_BUDGET
                return _finish(solution)
            turn.text = completion.text.rstrip("\n") + "\n" + FENCE + "\n"  # the fence the stop swallowed
            solution.text += turn.text
            if not _python_block(so_far):  # another language's block closed: nothing to run, go on
                conversation.shown(turn.text, "Continue.")
                continue
            turn.code = _last_block(solution.text)
            if sum(t.code is not None for t in solution.turns) > tool_calls:
                solution.status = AttemptStatus.TOOL_BUDGET
                return _finish(solution)
            execution = session.run(turn.code)
            turn.status, turn.exec_s, turn.output = execution.status.value, execution.wall_s, _shown(execution)
            denied = runtime_denial(execution.stderr)
            if execution.status in _ENDED or denied:  # the child is gone, or the sandbox refused: the attempt fails
                solution.status = _ENDED.get(execution.status, AttemptStatus.RUNTIME_ERROR)
                solution.error_type, solution.stderr, solution.denied = _error_type(execution), execution.stderr, denied
                return solution
            output_block = f"{FENCE}output\n{turn.output}\n{FENCE}\n"
            solution.text += output_block
            conversation.shown(turn.text, output_block + "Continue.")
    finally:
        session.close()


def _finish(solution: Solution) -> Solution:
    """The answer is the last boxed expression; a solution without one failed (unless it ran out first)."""
    solution.answer = last_boxed(solution.text)
    if solution.answer:
        solution.status = AttemptStatus.ANSWERED
    elif solution.status == AttemptStatus.NO_CODE:
        solution.status = AttemptStatus.NO_BOXED_ANSWER
    return solution


def _python_block(text: str) -> bool:
    """The block open at the end of `text` is Python (```python, or a bare ```)."""
    start = text.rfind(FENCE) + len(FENCE)
    end = text.find("\n", start)
    return text[start : end if end >= 0 else len(text)].strip().lower() in ("python", "py", "python3", "")


def _last_block(text: str) -> str:
    """The code of the ```python block the text ends with."""
    body = text[: text.rstrip().rfind(FENCE)]
    opening = body.rfind(FENCE)
    return body[body.find("\n", opening) + 1 :].rstrip() + "\n"


def _shown(execution: Execution) -> str:
    """What a block printed, and its error's last lines if it failed, cut to MAX_OUTPUT_CHARS."""
    text = execution.stdout
    if execution.status != ExecStatus.OK:
        tail = "\n".join(execution.stderr.strip().splitlines()[-4:])
        text = f"{text}{tail}" if text.endswith("\n") or not text else f"{text}\n{tail}"
    text = text.rstrip("\n")
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n[... output truncated]"


def _error_type(execution: Execution) -> str | None:
    return exception_type(execution.stderr) if execution.stderr else None
