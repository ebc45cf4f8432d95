"""Grading modes: which graders look at an answer, and which verdict counts.

- symbolic: the symbolic grader alone.
- judge: the LLM judge alone (the paper's method).
- cascade: symbolic first; the judge only where the symbolic grader says no (or times out).
- both: every answer gets both grades; by default the judge's verdict counts (as in the paper) and the report
  shows how far the two agree. `decisive` picks the grader whose verdict counts instead, e.g. the symbolic
  grader as the headline with the judge as the labelled cross-check.
Every verdict is stored per grader, plus the one that counts as `final`. A grader that cannot reach a verdict
(GraderUnavailable) leaves the problem ungraded: the exception propagates to the run loop.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ..data import Problem
from ..models import ChatModel
from .base import DEFAULT_DEADLINE_S, REL_TOL, Grade, Grader
from .judge import JUDGE_PROMPT_VERSION, RUBRIC, JudgeCache
from .registry import GRADERS, JUDGE, SYMBOLIC, GraderDeps, create_grader
from .worker import SymbolicGrader

GradingMode = Literal["symbolic", "judge", "cascade", "both"]
FINAL = "final"
MODE_GRADERS: dict[str, tuple[str, ...]] = {
    "symbolic": (SYMBOLIC,),
    "judge": (JUDGE,),
    "cascade": (SYMBOLIC, JUDGE),
    "both": (SYMBOLIC, JUDGE),
}
_DEFAULT_DECISIVE = {"symbolic": SYMBOLIC, "judge": JUDGE, "both": JUDGE}  # cascade: the last grader that ran


class GradingSettings(BaseModel):
    """Stored with the run, including the judge's rubric and prompt version."""

    mode: GradingMode = "symbolic"
    judge: str | None = None  # a model spec; needed by every mode that runs the judge
    decisive: str | None = None  # the grader whose verdict is `final`; None: the mode's default
    rel_tol: float = Field(default=REL_TOL, gt=0)
    deadline_s: float = Field(default=DEFAULT_DEADLINE_S, gt=0)
    judge_prompt_version: str = JUDGE_PROMPT_VERSION
    judge_rubric: str = RUBRIC

    @model_validator(mode="after")
    def _consistent(self) -> GradingSettings:
        if self.needs_judge and not self.judge:
            raise ValueError(f"grading mode {self.mode!r} needs a judge model (--judge SPEC)")
        if self.decisive is not None:
            if self.decisive not in GRADERS:
                raise ValueError(f"unknown grader {self.decisive!r} (known: {', '.join(GRADERS)})")
            if self.mode == "cascade" or self.decisive not in self.graders:
                raise ValueError(f"grading mode {self.mode!r} cannot make {self.decisive!r} decisive")
        return self

    @property
    def graders(self) -> tuple[str, ...]:
        """The graders this mode runs, in order."""
        return MODE_GRADERS[self.mode]

    @property
    def decisive_grader(self) -> str | None:
        """The grader whose verdict is `final`; None for cascade (the last grader that ran, per answer)."""
        return self.decisive or _DEFAULT_DECISIVE.get(self.mode)

    @property
    def needs_judge(self) -> bool:
        return JUDGE in self.graders


class Grading:
    def __init__(self, settings: GradingSettings, judge_model: ChatModel | None, cache: JudgeCache) -> None:
        self.settings = settings
        deps = GraderDeps(
            rel_tol=settings.rel_tol, deadline_s=settings.deadline_s, judge_model=judge_model, cache=cache
        )
        self.graders: dict[str, Grader] = {name: create_grader(name, deps) for name in settings.graders}
        self._voter: SymbolicGrader | None = None  # majority voting's readings, when no symbolic grader runs

    def grade(self, problem: Problem, output: str | None) -> dict[str, Grade]:
        """Grades per grader name, plus FINAL. `output` is None when no attempt printed an answer."""
        names = self.settings.graders
        if output is None:
            missing = Grade(correct=False, status="no_answer", method="none", answer="")
            return {**{name: missing for name in names}, FINAL: missing}
        grades: dict[str, Grade] = {}
        for name in names:
            if self.settings.mode == "cascade" and any(g.correct for g in grades.values()):
                break
            grades[name] = self.graders[name].grade(output, problem.answer, problem.problem)
        decisive = self.settings.decisive_grader or list(grades)[-1]
        grades[FINAL] = grades[decisive]
        return grades

    def vote(self, problem: Problem, answers: dict[int, str]) -> dict[int, int]:
        """Group a problem's samples by equivalent answers (majority voting), with the symbolic grader's readings
        whichever graders decide correctness."""
        voter = self.graders.get(SYMBOLIC)
        if not isinstance(voter, SymbolicGrader):
            self._voter = voter = self._voter or SymbolicGrader(self.settings.deadline_s, self.settings.rel_tol)
        return voter.vote(answers, problem.answer)

    def close(self) -> None:
        for grader in self.graders.values():
            grader.close()
        if self._voter is not None:
            self._voter.close()
