"""Stage: prompts, code extraction, the attempt loop and its failure taxonomy."""

from .attempt import Attempt, AttemptStatus
from .extract import Extracted, extract_code
from .loop import SolvePolicy, counted_attempts, solve
from .prompts import DEFAULT_PROMPT, METHOD_PROMPTS, Prompt, first_messages, load_prompt
from .safety import Category, Finding, scan
from .tbt import require_prefix

__all__ = [
    "DEFAULT_PROMPT",
    "METHOD_PROMPTS",
    "Attempt",
    "AttemptStatus",
    "Category",
    "Extracted",
    "Finding",
    "Prompt",
    "SolvePolicy",
    "counted_attempts",
    "extract_code",
    "first_messages",
    "load_prompt",
    "require_prefix",
    "scan",
    "solve",
]
