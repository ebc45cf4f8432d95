"""Stage 1: where problems come from."""

from .loaders import SAMPLE, load_dataset, parse_jsonl
from .problem import LEVELS, SUBJECTS, Problem, canonical_subject

__all__ = ["LEVELS", "SAMPLE", "SUBJECTS", "Problem", "canonical_subject", "load_dataset", "parse_jsonl"]
