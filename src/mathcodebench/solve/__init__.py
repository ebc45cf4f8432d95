"""Stage: prompts, code extraction, the attempt loop and its failure taxonomy."""

from .attempt import Attempt, AttemptStatus
from .extract import Extracted, extract_code
from .loop import SolvePolicy, counted_attempts, solve
from .prompts import PROMPT_VERSION, first_messages
from .safety import Category, Finding, scan
from .tbt import require_prefix

__all__ = ["PROMPT_VERSION", "Attempt", "AttemptStatus", "Category", "Extracted", "Finding", "SolvePolicy",
           "counted_attempts", "extract_code", "first_messages", "require_prefix", "scan", "solve"]
