"""One attempt's record and its single status, from the code and what the sandbox reported."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel

from ..models import GenerationParams
from ..sandbox import ExecStatus, Execution, Limits
from .safety import Finding
from .syntax import parse_python
from .turns import Turn


class AttemptStatus(StrEnum):
    ANSWERED = "answered"  # exit 0 with non-empty output (right or wrong: grading decides)
    NO_CODE = "no_code"
    SYNTAX_ERROR = "syntax_error"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT_LIMIT = "output_limit"
    EMPTY_OUTPUT = "empty_output"
    UNSAFE_BLOCKED = "unsafe_blocked"  # --unsafe block: flagged code is not run (a failed attempt)
    NO_BOXED_ANSWER = "no_boxed_answer"  # tir: the solution ended without a \boxed{} answer
    TOOL_BUDGET = "tool_budget"  # tir: it wanted more code executions than --tool-calls allows
    TOKEN_BUDGET = "token_budget"  # tir: it used up --max-tokens before a boxed answer
    MODEL_ERROR = "model_error"  # the model backend failed after its own retries (infrastructure)
    SANDBOX_ERROR = "sandbox_error"  # the sandbox failed, even on a fresh server (infrastructure)

    @property
    def infrastructure(self) -> bool:
        """A failure of the harness's machinery, not of the model: it does not count against the problem's
        attempts, is never fed back to the model, and leaves the problem to be attempted again on --resume."""
        return self in (AttemptStatus.MODEL_ERROR, AttemptStatus.SANDBOX_ERROR)


class Attempt(BaseModel):
    problem_id: str
    sample: int = 1  # which of the problem's repeated samples (--samples) this attempt belongs to
    number: int  # 1-based row number; infrastructure failures have numbers too but do not count as attempts
    status: AttemptStatus
    error_type: str | None = None  # exception name for syntax/runtime errors
    response: str = ""
    code: str | None = None
    code_start: int | None = None  # where the code begins in the response
    extraction: str | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    feedback: str | None = None  # what the next attempt is told (None when no retry follows or feedback is off)
    gen_s: float = 0.0
    exec_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0  # generated for this attempt, including lines regenerated and dropped
    tokens_reused: int | None = 0  # kept from the previous attempt's response (tbt; None: backend cannot count)
    regeneration: list[int] = []  # tbt: offsets in the response where generation (re)started
    finish_reason: str | None = None
    params: GenerationParams
    unsafe: list[Finding] = []  # what the static classifier flagged in the code
    denied: str | None = None  # what the sandbox refused at run time (the PermissionError line), if anything
    answer: str | None = None  # tir: the last \boxed{} of the solution, which is what is graded (pot: stdout)
    turns: list[Turn] = []  # tir: every step (text, code, output, status, times)

    def graded_output(self) -> str:
        """What the graders read: the program's output (pot), or the solution's boxed answer (tir)."""
        return self.answer if self.answer is not None else self.stdout


_SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
_EXC_LINE = re.compile(r"^(\w+(?:\.\w+)*)(?::\s?(.*))?$")


def precheck_syntax(code: str) -> tuple[str, str] | None:
    """Parse (never run) the program; if it cannot compile, return (error type, Python-style error text)."""
    try:
        parse_python(code, filename="main.py")
    except SyntaxError as exc:
        where = f'  File "main.py", line {exc.lineno}\n' if exc.lineno else ""
        return type(exc).__name__, f"{where}{type(exc).__name__}: {exc.msg}"
    except ValueError as exc:  # e.g. null bytes in the source
        return "SyntaxError", f"SyntaxError: {exc}"
    except (RecursionError, MemoryError):
        return "SyntaxError", "SyntaxError: program too deeply nested to parse"
    return None


def status_of(execution: Execution) -> tuple[AttemptStatus, str | None]:
    """Map a sandbox result to the attempt taxonomy (and the exception type where there is one)."""
    match execution.status:
        case ExecStatus.OK:
            if execution.stdout.strip():
                return AttemptStatus.ANSWERED, None
            return AttemptStatus.EMPTY_OUTPUT, None
        case ExecStatus.TIMEOUT:
            return AttemptStatus.TIMEOUT, None
        case ExecStatus.MEMORY:
            return AttemptStatus.MEMORY, "MemoryError"
        case ExecStatus.OUTPUT_LIMIT:
            return AttemptStatus.OUTPUT_LIMIT, None
        case ExecStatus.ERROR:
            error_type = exception_type(execution.stderr)
            if error_type in _SYNTAX_ERRORS:
                return AttemptStatus.SYNTAX_ERROR, error_type
            return AttemptStatus.RUNTIME_ERROR, error_type
        case _:
            return AttemptStatus.RUNTIME_ERROR, f"signal {execution.signal}"


def exception_type(stderr: str) -> str | None:
    for line in reversed(stderr.strip().splitlines()):
        if m := _EXC_LINE.match(line.strip()):
            return m.group(1).rsplit(".", 1)[-1]
    return None


_FRAME = re.compile(r'File "main\.py", line (\d+)')
# Library frames name files by where this machine installed them; the model is told the path inside the
# library only, so the feedback (and what the model writes next) does not depend on the installation.
_INSTALL_PATH = re.compile(r'File "[^"]*?/(?:site-packages|dist-packages|lib/python3\.\d+)/')


def feedback_for(status: AttemptStatus, attempt: Attempt, limits: Limits) -> str:
    """A compact account of the failure: type, message, the failing program line, last traceback lines."""
    if attempt.finish_reason == "length" and status in (AttemptStatus.NO_CODE, AttemptStatus.SYNTAX_ERROR):
        return (
            "Your reply was cut off at the token limit before the program was complete. "
            "Write a much shorter program, without long literals or repetition."
        )
    match status:
        case AttemptStatus.NO_CODE:
            return "Your reply contained no Python program in a ```python code block."
        case AttemptStatus.SYNTAX_ERROR | AttemptStatus.RUNTIME_ERROR:
            return _error_feedback(attempt)
        case AttemptStatus.TIMEOUT:
            return f"Your program did not finish within {limits.timeout_s:g} seconds. Use a faster method."
        case AttemptStatus.MEMORY:
            return f"Your program ran out of memory (limit {limits.memory_mb} MB). Use less memory."
        case AttemptStatus.OUTPUT_LIMIT:
            return "Your program printed far too much output. Print only the final answer."
        case AttemptStatus.EMPTY_OUTPUT:
            return "Your program ran but printed nothing. Print the final answer with print()."
        case AttemptStatus.NO_BOXED_ANSWER:
            return "Your solution ended without a final answer. Give the final answer in \\boxed{}."
        case AttemptStatus.TOOL_BUDGET:
            return (
                "Your solution needed more than the allowed number of code executions. Use fewer, larger code "
                "blocks and give the final answer in \\boxed{}."
            )
        case AttemptStatus.TOKEN_BUDGET:
            return "Your solution was too long and was cut off. Be brief and give the final answer in \\boxed{}."
        case AttemptStatus.UNSAFE_BLOCKED:
            flagged = "; ".join(f"{f.what} (line {f.line})" for f in attempt.unsafe[:3])
            return (
                f"Your program was not run because it uses {flagged}. Solve the problem with computation "
                "only: no files, processes, network, environment or dynamic code."
            )
        case _:
            return ""


def failing_line(attempt: Attempt) -> int | None:
    """The program line an error points at: the innermost program frame of a traceback, or a syntax error's."""
    frames = _FRAME.findall(attempt.stderr)
    return int(frames[-1]) if frames else None


def _error_feedback(attempt: Attempt, max_lines: int = 6, max_chars: int = 1200) -> str:
    lines = _INSTALL_PATH.sub('File "', attempt.stderr).strip().splitlines()
    tail = "\n".join(line[:200] for line in lines[-max_lines:])[-max_chars:]
    failing = ""
    lineno = failing_line(attempt)
    if lineno is not None and attempt.code:
        program = attempt.code.splitlines()
        if 0 < lineno <= len(program):
            failing = f"\nThe failing line is line {lineno}: {program[lineno - 1].strip()[:200]}"
    header = f"Your program failed with {attempt.error_type or 'an error'}."
    return f"{header}{failing}\nError output (last lines):\n{tail}"


_DENIAL = ("PermissionError", "Operation not permitted", "Permission denied")


def runtime_denial(stderr: str) -> str | None:
    """The line where the sandbox refused something (a socket, a file, a fork), if it did."""
    for line in reversed(stderr.splitlines()):
        if any(marker in line for marker in _DENIAL):
            return line.strip()[:200]
    return None
