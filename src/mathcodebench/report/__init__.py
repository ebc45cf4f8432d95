"""Stage: turn a stored run into tables (reads the store only)."""

from .console import render, render_comparison
from .summary import Summary, Tally, summarize, wilson

__all__ = ["Summary", "Tally", "render", "render_comparison", "summarize", "wilson"]
