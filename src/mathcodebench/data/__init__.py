"""Stage 1: where problems come from, and which of them a run uses."""

from .problem import LEVELS, SUBJECTS, Problem, canonical_subject
from .records import Loaded, Skipped
from .sampling import Selection, parse_levels, parse_subjects, select, selection_hash
from .sources import SAMPLE, SPECS_HELP, load

__all__ = [
    "LEVELS",
    "SAMPLE",
    "SPECS_HELP",
    "SUBJECTS",
    "Loaded",
    "Problem",
    "Selection",
    "Skipped",
    "canonical_subject",
    "load",
    "parse_levels",
    "parse_subjects",
    "select",
    "selection_hash",
]
