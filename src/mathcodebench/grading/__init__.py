"""Stage: is the printed answer right? Symbolic equivalence, an LLM judge, and how far they agree."""

from .agreement import Agreement, agreement
from .base import Grade, GraderUnavailable, answer_line
from .judge import JUDGE_PROMPT_VERSION, LLMJudge, parse_verdict
from .modes import FINAL, Grading, GradingMode, GradingSettings, JudgeCache
from .worker import SymbolicGrader

__all__ = ["FINAL", "JUDGE_PROMPT_VERSION", "Agreement", "Grade", "GraderUnavailable", "Grading", "GradingMode", "GradingSettings",
           "JudgeCache", "LLMJudge", "SymbolicGrader", "agreement", "answer_line", "parse_verdict"]
