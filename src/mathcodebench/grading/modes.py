"""Grading modes: which graders look at an answer, and which verdict counts.

- symbolic: the symbolic grader alone.
- judge: the LLM judge alone (the paper's method).
- cascade: symbolic first; the judge only where the symbolic grader says no (or times out).
- both: every answer gets both grades; the judge's verdict counts (as in the paper) and the report
  shows how far the two agree.
Every verdict is stored per grader, plus the one that counts as `final`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from ..data import Problem
from ..models import ChatModel
from .base import REL_TOL, Grade
from .judge import JUDGE_PROMPT_VERSION, RUBRIC, LLMJudge
from .worker import DEFAULT_DEADLINE_S, SymbolicGrader

GradingMode = Literal["symbolic", "judge", "cascade", "both"]
FINAL = "final"


class GradingSettings(BaseModel):
    """Stored with the run, including the judge's rubric and prompt version."""

    mode: GradingMode = "symbolic"
    judge: str | None = None  # a model spec; needed by every mode but symbolic
    rel_tol: float = Field(default=REL_TOL, gt=0)
    deadline_s: float = Field(default=DEFAULT_DEADLINE_S, gt=0)
    judge_prompt_version: str = JUDGE_PROMPT_VERSION
    judge_rubric: str = RUBRIC

    @model_validator(mode="after")
    def _judge_named(self) -> GradingSettings:
        if self.mode != "symbolic" and not self.judge:
            raise ValueError(f"grading mode {self.mode!r} needs a judge model (--judge SPEC)")
        return self


class JudgeCache(Protocol):
    """Judge verdicts by content, so re-grading costs nothing and an interrupted grading resumes."""

    def get(self, key: str) -> tuple[Grade, str] | None: ...

    def put(self, key: str, grade: Grade, reply: str) -> None: ...


class Grading:
    def __init__(self, settings: GradingSettings, judge_model: ChatModel | None, cache: JudgeCache) -> None:
        self.settings = settings
        self.symbolic = SymbolicGrader(settings.deadline_s, settings.rel_tol)
        self.judge = LLMJudge(judge_model) if judge_model is not None else None
        self.cache = cache

    def grade(self, problem: Problem, output: str | None) -> dict[str, Grade]:
        """Grades per grader name, plus FINAL. `output` is None when no attempt printed an answer."""
        mode = self.settings.mode
        if output is None:
            missing = Grade(correct=False, status="no_answer", method="none", answer="")
            names = {"symbolic": ["symbolic"], "judge": ["judge"], "cascade": ["symbolic"],
                     "both": ["symbolic", "judge"]}[mode]
            return {**{name: missing for name in names}, FINAL: missing}
        grades: dict[str, Grade] = {}
        if mode != "judge":
            grades["symbolic"] = self.symbolic.grade(output, problem.answer)
        if mode in ("judge", "both") or (mode == "cascade" and not grades["symbolic"].correct):
            grades["judge"] = self._judge(problem, output)
        decisive = grades["symbolic"] if mode == "symbolic" or (mode == "cascade" and "judge" not in grades) \
            else grades["judge"]
        grades[FINAL] = decisive
        return grades

    def _judge(self, problem: Problem, output: str) -> Grade:
        assert self.judge is not None
        key = hashlib.sha256(json.dumps([self.judge.spec, JUDGE_PROMPT_VERSION, problem.problem, problem.answer,
                                         output]).encode()).hexdigest()
        if (hit := self.cache.get(key)) is not None:
            return hit[0]
        grade, reply = self.judge.grade(problem.problem, problem.answer, output)
        if grade.status != "error":  # a failed call is retried next time; a verdict (or unparseable) is kept
            self.cache.put(key, grade, reply)
        return grade

    def close(self) -> None:
        self.symbolic.close()
