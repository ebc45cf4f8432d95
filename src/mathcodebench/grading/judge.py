"""The LLM judge on a 5-point scale (score >= 4 counts as correct, as in the paper).

The paper's rubric text is lost; this one is ours. The judge sees the problem, the reference answer and the
program's output, and must reply with one JSON object. A reply that does not validate is retried (sampling,
with a reminder of the format) and, if it never validates, recorded as `unparseable` (incorrect). A backend
that fails raises GraderUnavailable: the item stays ungraded, never wrong. Verdicts (and unparseable
outcomes) are cached by content, so re-grading costs nothing and resumes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Protocol

from pydantic import BaseModel, Field, ValidationError

from ..models import ChatModel, GenerationParams, Message, ModelError
from .base import Grade, GraderUnavailable, answer_line
from .registry import JUDGE

JUDGE_PROMPT_VERSION = "judge-v1"
CORRECT_FROM = 4
MAX_TRIES = 3
MAX_OUTPUT_CHARS = 2000

RUBRIC = """Score the program output against the reference answer on this scale:
5 - The output gives the reference answer exactly, or the same value in another notation (a fraction as a
    decimal to full precision, an equivalent radical or expression, the same set in another order).
4 - The output is mathematically equivalent to the reference with a minor difference in presentation:
    rounding in a late decimal place, units, labels or words around the correct value, an unsimplified but
    equal form.
3 - Partly correct: the right kind of answer with a small error, one of several required values missing or
    wrong, or a value close to but not equal to the reference.
2 - Wrong, but related to the problem (a plausible intermediate result or a typical mistake).
1 - Wrong and unrelated, empty, an error message, or not an answer at all."""

SYSTEM = (
    "You are a strict grader of answers to competition mathematics problems. Judge only whether the program "
    "output states the same final answer as the reference answer; do not solve the problem yourself.\n\n"
    f"{RUBRIC}\n\nReply with only one JSON object and nothing else: "
    '{"score": <integer 1-5>, "reason": "<one short sentence>"}'
)

_OBJECT = re.compile(r"\{[^{}]*\}", re.S)


class Verdict(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str = ""


def judge_messages(problem: str, reference: str, output: str) -> list[Message]:
    shown = output if len(output) <= MAX_OUTPUT_CHARS else output[:MAX_OUTPUT_CHARS] + "\n[... truncated]"
    user = (
        f"Problem:\n{problem}\n\nReference answer (LaTeX):\n{reference}\n\n"
        f"Program output:\n{shown if shown.strip() else '(empty)'}"
    )
    return [Message(role="system", content=SYSTEM), Message(role="user", content=user)]


def parse_verdict(reply: str) -> Verdict | None:
    """The first JSON object in the reply that validates as a verdict, else None."""
    for candidate in _OBJECT.findall(reply):
        try:
            return Verdict.model_validate(json.loads(candidate))
        except (json.JSONDecodeError, ValidationError, TypeError):
            continue
    return None


class JudgeCache(Protocol):
    """Judge verdicts by content, so re-grading costs nothing and an interrupted grading resumes."""

    def get(self, key: str) -> tuple[Grade, str] | None: ...

    def put(self, key: str, grade: Grade, reply: str) -> None: ...


class MemoryCache:
    """A JudgeCache for one process (`grade --pairs`): a pair seen twice is judged once."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Grade, str]] = {}

    def get(self, key: str) -> tuple[Grade, str] | None:
        return self.items.get(key)

    def put(self, key: str, grade: Grade, reply: str) -> None:
        self.items[key] = (grade, reply)


class LLMJudge:
    """Grades with any chat model. Greedy first; retries sample so they can differ."""

    name = JUDGE

    def __init__(self, model: ChatModel, cache: JudgeCache | None = None, seed: int = 0, max_tokens: int = 200) -> None:
        self.model = model
        self.spec = model.spec
        self.cache = cache
        self.seed = seed
        self.max_tokens = max_tokens

    def grade(self, output: str, reference: str, problem: str = "") -> Grade:
        if self.cache is None:
            return self.ask(output, reference, problem)[0]
        key = hashlib.sha256(
            json.dumps([self.spec, JUDGE_PROMPT_VERSION, problem, reference, output]).encode()
        ).hexdigest()
        if (hit := self.cache.get(key)) is not None:
            return hit[0]
        grade, reply = self.ask(output, reference, problem)
        self.cache.put(key, grade, reply)
        return grade

    def ask(self, output: str, reference: str, problem: str = "") -> tuple[Grade, str]:
        """One uncached judgement: the grade and the raw reply of the last try (for the cache and review)."""
        messages = judge_messages(problem, reference, output)
        reply = ""
        for attempt in range(MAX_TRIES):
            params = GenerationParams(
                temperature=0.0 if attempt == 0 else 0.7, max_tokens=self.max_tokens, seed=self.seed + attempt
            )
            try:
                reply = self.model.generate(messages, params).text
            except ModelError as exc:
                raise GraderUnavailable(f"judge {self.spec} failed: {exc}") from exc
            verdict = parse_verdict(reply)
            if verdict is not None:
                return Grade(
                    correct=verdict.score >= CORRECT_FROM,
                    status="ok",
                    method="judge",
                    answer=answer_line(output),
                    score=verdict.score,
                    detail=verdict.reason[:500],
                ), reply
            messages = [
                *messages[:2],
                Message(role="assistant", content=reply),
                Message(role="user", content='Reply with only the JSON object {"score": <1-5>, "reason": "..."}.'),
            ]
        return Grade(
            correct=False,
            status="unparseable",
            method="judge",
            answer=answer_line(output),
            detail=f"no valid verdict after {MAX_TRIES} tries; last reply: {reply[:300]}",
        ), reply

    def close(self) -> None:
        """The model belongs to the caller (it may be the solver too)."""
