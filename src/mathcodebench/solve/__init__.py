"""Stage: prompts, code extraction, the attempt loop and its failure taxonomy."""

from .attempt import Attempt, AttemptStatus
from .extract import Extracted, extract_code
from .loop import SolvePolicy, solve
from .prompts import PROMPT_VERSION
from .safety import Category, Finding, scan

__all__ = ["PROMPT_VERSION", "Attempt", "AttemptStatus", "Category", "Extracted", "Finding", "SolvePolicy",
           "extract_code", "scan", "solve"]
