"""Stage: is the printed answer right? Symbolic equivalence against MATH's LaTeX reference."""

from .base import Grade, answer_line
from .worker import SymbolicGrader

__all__ = ["Grade", "SymbolicGrader", "answer_line"]
