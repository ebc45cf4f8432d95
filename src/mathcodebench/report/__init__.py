"""Stage: turn a stored run into tables (reads the store only)."""

from .compare import Paired, mcnemar_exact, paired
from .console import domain_gap, render, render_comparison
from .summary import Summary, Tally, summarize, wilson

__all__ = ["Paired", "domain_gap", "mcnemar_exact", "paired", "Summary", "Tally", "render", "render_comparison", "summarize", "wilson"]
