"""Stage: is the printed answer right? Symbolic equivalence, an LLM judge, and how far they agree."""

from .agreement import Agreement, agreement
from .base import Grade, Grader, GraderUnavailable, answer_line
from .judge import JUDGE_PROMPT_VERSION, JudgeCache, LLMJudge, MemoryCache, parse_verdict
from .modes import FINAL, Grading, GradingMode, GradingSettings
from .registry import GRADERS, JUDGE, SYMBOLIC, GraderDeps, create_grader
from .worker import SymbolicGrader

__all__ = [
    "FINAL",
    "GRADERS",
    "JUDGE",
    "JUDGE_PROMPT_VERSION",
    "SYMBOLIC",
    "Agreement",
    "Grade",
    "Grader",
    "GraderDeps",
    "GraderUnavailable",
    "Grading",
    "GradingMode",
    "GradingSettings",
    "JudgeCache",
    "LLMJudge",
    "MemoryCache",
    "SymbolicGrader",
    "agreement",
    "answer_line",
    "create_grader",
    "parse_verdict",
]
