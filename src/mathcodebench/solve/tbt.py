"""Token-by-token regeneration: our definition of the paper's lost mechanism (README, "Regeneration").

A failed response is kept up to the point of failure and only the rest is generated again:
- the failure point is the failing line (the syntax error's line; the innermost program line of a traceback),
  just after its indentation, or the end of the program for empty output, timeouts, memory and output limits;
- generation continues from that prefix, and the token the failed line began with is excluded at the first
  position (backends with `token_exclusion`; others sample afresh with a new seed);
- each line of code the continuation completes is checked at once (does the program so far still parse?);
  an invalid line is cut and generated again from its start, with its first token excluded, up to
  `MAX_POINTS` times. Cutting is rolling back: the next continuation shares the prefix, so llama.cpp keeps
  the KV cache up to that token and evaluates nothing twice.
Responses with no program, or cut off at the token limit, get a whole new response instead; so does a
regenerated response that failed again at or before the point it was regenerated from (the fault is then in
the kept part, and keeping it again would repeat the failure).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..models import ChatModel, Completion, GenerationParams, Message, PrefixModel
from .attempt import Attempt, AttemptStatus, failing_line
from .syntax import parse_python

MAX_POINTS = 8  # regeneration points per attempt (the failure point and invalid lines)
_AT_END = {AttemptStatus.EMPTY_OUTPUT, AttemptStatus.TIMEOUT, AttemptStatus.MEMORY, AttemptStatus.OUTPUT_LIMIT}
_INDENTATION = ("IndentationError", "TabError")
# SyntaxError messages that mean "not finished yet" rather than "wrong": the next line may complete it.
_INCOMPLETE = ("was never closed", "unexpected EOF", "unterminated triple-quoted", "expected an indented block")
_FENCE = "```"


@dataclass(frozen=True)
class Point:
    offset: int  # where generation restarts, in the response text
    avoid: str  # what the failed text had there


@dataclass(frozen=True)
class Regenerated:
    completion: Completion  # the whole new response (kept prefix + continuations), tokens and time summed
    tokens_reused: int | None  # tokens of the kept prefix (None where the backend cannot count)
    points: list[int]  # offsets in the new response where generation (re)started


def require_prefix(model: ChatModel, messages: list[Message]) -> None:
    """Stop before a run starts when the model cannot do token-by-token regeneration, saying why."""
    if not (isinstance(model, PrefixModel) and model.capabilities.prefix):
        raise UserError(
            f"{model.spec} cannot continue a response from a prefix (no raw-completion endpoint), "
            "so --regeneration tbt is not possible; use --regeneration full"
        )
    model.render(messages)  # raises when a server model has no chat template


def failure_point(attempt: Attempt) -> Point | None:
    """Where in the failed response regeneration starts, or None when a whole new response is needed."""
    if attempt.code is None or attempt.code_start is None or attempt.finish_reason == "length":
        return None
    start, response = attempt.code_start, attempt.response
    lines = attempt.code.splitlines(keepends=True)
    if attempt.status in _AT_END:
        end = start + len(attempt.code.rstrip("\n"))
        if response[end : end + 1] != "\n":
            return None
        return Point(end + 1, _FENCE)
    lineno = failing_line(attempt)
    if lineno is None or not 0 < lineno <= len(lines):
        return None
    offset = start + sum(len(line) for line in lines[: lineno - 1])
    return _line_point(response, offset, attempt.error_type in _INDENTATION)


def _line_point(text: str, line_start: int, whole_line: bool) -> Point:
    """A line's restart point: after its indentation, or at its start when the indentation is the fault."""
    end = text.find("\n", line_start)
    line = text[line_start : end if end >= 0 else len(text)]
    indent = 0 if whole_line else len(line) - len(line.lstrip(" \t"))
    return Point(line_start + indent, line[indent:])


def first_invalid_line(text: str, since: int) -> Point | None:
    """The first line completed at or after `since`, inside the code block, that makes the program so far
    unparseable (not merely unfinished)."""
    opening = text.rfind(_FENCE, 0, since)
    if opening < 0 or text.count(_FENCE, 0, since) % 2 == 0:
        return None  # `since` is not inside a code block
    code_start = text.find("\n", opening) + 1
    if code_start == 0 or code_start > since:
        return None
    closing = text.find(_FENCE, since)
    code_end = closing if closing >= 0 else len(text)
    line_start = text.rfind("\n", 0, since) + 1
    if _parse_error(text[code_start:line_start]) is not None:
        return None  # the kept part is already invalid: a new line cannot be blamed
    while line_start < code_end:
        newline = text.find("\n", line_start, code_end)
        if newline < 0:
            if closing < 0:
                return None  # the last line is unfinished
            newline = code_end
        error = _parse_error(text[code_start : newline + 1])
        if error is not None:
            return _line_point(text, line_start, error in _INDENTATION)
        line_start = newline + 1
    return None


def _parse_error(code: str) -> str | None:
    """The error type if `code` cannot be the beginning of a valid program, else None."""
    try:
        parse_python(code)
    except SyntaxError as exc:
        if any(marker in exc.msg for marker in _INCOMPLETE) or (exc.lineno or 0) > code.count("\n"):
            return None
        return type(exc).__name__
    except (ValueError, RecursionError, MemoryError):
        return "SyntaxError"
    return None


def regenerate(
    model: PrefixModel, messages: list[Message], previous: Attempt, params: GenerationParams
) -> Regenerated | None:
    """The new response for the attempt after `previous`, regenerated from its failure point (None: no point)."""
    point = failure_point(previous)
    if point is None or (previous.regeneration and point.offset <= previous.regeneration[0]):
        return None
    prompt = model.render(messages)
    text = previous.response[: point.offset]
    reused = model.count_tokens(text)
    budget = params.max_tokens - (reused or 0)
    if budget < 16:
        return None  # the kept prefix fills the token budget: start afresh
    points: list[int] = []
    calls: list[Completion] = []
    for call in range(MAX_POINTS):
        points.append(len(text))
        spent = sum(c.completion_tokens for c in calls)
        if budget - spent < 16:
            break
        step = params.model_copy(update={"max_tokens": budget - spent, "seed": params.seed + call})
        completion = model.complete(prompt + text, step, avoid=point.avoid)
        calls.append(completion)
        continued = text + completion.text
        point = first_invalid_line(continued, len(text))
        if point is None or call == MAX_POINTS - 1:
            text = continued
            break
        text = continued[: point.offset]
    last = calls[-1]
    return Regenerated(
        completion=last.model_copy(
            update={
                "text": text,
                "completion_tokens": sum(c.completion_tokens for c in calls),
                "latency_s": sum(c.latency_s for c in calls),
                "retries": sum(c.retries for c in calls),
                "ttft_s": calls[0].ttft_s,
                "params": params,
            }
        ),
        tokens_reused=reused,
        points=points[: len(calls)],
    )
