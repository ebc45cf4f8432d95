"""Graders by name. Every module that needs a grader's name takes it from here; a new grader is one module
with a class following `base.Grader`, plus its line in GRADERS.

Factories import their module when called, so the grader modules can take their own names from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .base import DEFAULT_DEADLINE_S, REL_TOL, Grader

if TYPE_CHECKING:
    from ..models import ChatModel
    from .judge import JudgeCache

SYMBOLIC: Final = "symbolic"
JUDGE: Final = "judge"


@dataclass(frozen=True)
class GraderDeps:
    """What a grader may need to be built; each takes what it uses."""

    rel_tol: float = REL_TOL
    deadline_s: float = DEFAULT_DEADLINE_S
    judge_model: ChatModel | None = None
    cache: JudgeCache | None = None


def _symbolic(deps: GraderDeps) -> Grader:
    from .worker import SymbolicGrader

    return SymbolicGrader(deps.deadline_s, deps.rel_tol)


def _judge(deps: GraderDeps) -> Grader:
    from .judge import LLMJudge

    if deps.judge_model is None:
        raise ValueError(f"the {JUDGE} grader needs a judge model (--judge SPEC)")
    return LLMJudge(deps.judge_model, deps.cache)


GRADERS: dict[str, Callable[[GraderDeps], Grader]] = {SYMBOLIC: _symbolic, JUDGE: _judge}


def create_grader(name: str, deps: GraderDeps) -> Grader:
    if name not in GRADERS:
        raise ValueError(f"unknown grader {name!r} (known: {', '.join(GRADERS)})")
    return GRADERS[name](deps)
